"""The tables of the outcomes loop and the columns each stage may rely on.

Pulls (handoff.outcomes.pull) write the raw CRM tables incrementally, keyed by
(destination, crm_id), and keep one watermark per (destination, object). The handoff
builder joins them with routing_decisions and product events into HANDOFF_OUTCOMES: one row
per handoff (the first routed or holdout decision of a trigger episode). Metrics and
calibration read only HANDOFF_OUTCOMES, score_history and the feature tables.
"""

from __future__ import annotations

WATERMARKS_TABLE = "pull_watermarks"  # destination, object, watermark, pulled_at, records
CRM_ACCOUNTS_TABLE = "crm_accounts"  # disposition as reps set it on the company / Account
CRM_TASKS_TABLE = "crm_tasks"  # Handoff's tasks and other activities: first touch
CRM_DEALS_TABLE = "crm_deals"  # deals / Opportunities: opened, closed won or lost, amount
HANDOFF_OUTCOMES_TABLE = "handoff_outcomes"

# One row per handoff. Times are naive UTC. Columns after `destination` are NULL until known.
HANDOFF_OUTCOME_COLUMNS = {
    "as_of": "TIMESTAMP",  # the snapshot whose routing made the handoff
    "model_version": "VARCHAR",
    "account_domain": "VARCHAR",
    "episode_id": "VARCHAR",
    "decision": "VARCHAR",  # routed | holdout
    "tier": "VARCHAR",
    "segment": "VARCHAR",
    "trigger_id": "VARCHAR",
    "trigger_class": "VARCHAR",
    "owner_email": "VARCHAR",  # NULL for holdout
    "score": "DOUBLE",
    "handed_off_at": "TIMESTAMP",  # when the trigger fired (else as_of)
    "sla_due_at": "TIMESTAMP",
    "expected_acv": "DOUBLE",  # midpoint of routing's expected ACV band
    "destination": "VARCHAR",  # hubspot | salesforce | NULL (never synced)
    "disposition": "VARCHAR",  # accepted | rejected
    "reject_reason": "VARCHAR",
    "disposition_at": "TIMESTAMP",
    "first_touch_at": "TIMESTAMP",  # first completed task / activity after handed_off_at
    "opportunity_id": "VARCHAR",
    "opportunity_opened_at": "TIMESTAMP",
    "closed_at": "TIMESTAMP",
    "won": "BOOLEAN",  # NULL while open or when there is no opportunity
    "amount": "DOUBLE",  # closed-won amount
    "self_serve_converted_at": "TIMESTAMP",  # first paid upgrade in the product after handoff
    "observed_until": "TIMESTAMP",  # outcomes are known up to this time (censoring)
}
