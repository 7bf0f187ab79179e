"""The stages the DAGs, the CLI and the tests call: each opens the warehouse, runs, closes.

Every stage takes an explicit `as_of`; nothing reads the wall clock to decide what to score.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from handoff.config import load_model, load_source
from handoff.features import extract_features
from handoff.scoring import SCORE_HISTORY_TABLE, score_snapshot
from handoff.warehouse import Warehouse, literal, naive_utc

log = logging.getLogger(__name__)


def enrich_stage(
    warehouse_url: str,
    as_of: datetime,
    source_path: str | Path | None = None,
    config_path: str | Path | None = None,
    base_url: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """Rebuild the domain map and refresh stale firmographics for every company domain."""
    from handoff.enrich import build_provider, domains_to_enrich, enrich, load_enrichment
    from handoff.enrich.domain_map import write_domain_map

    src = load_source(source_path)
    cfg = load_enrichment(config_path)
    with Warehouse(warehouse_url) as wh:
        mapped = write_domain_map(wh, src)
        provider = build_provider(cfg, wh, base_url=base_url, token=token)
        domains = domains_to_enrich(wh, src)
        summary = enrich(wh, provider, domains, as_of, cfg.ttl_days, cfg.batch_size)
    log.info("enrichment via %s: %s", provider.name, summary)
    return {"as_of": naive_utc(as_of).isoformat(), "email_domains": mapped, **asdict(summary)}


def extract_stage(
    warehouse_url: str, as_of: datetime, source_path: str | Path | None = None
) -> dict[str, Any]:
    src = load_source(source_path)
    with Warehouse(warehouse_url) as wh:
        counts = extract_features(wh, src, as_of)
    return {"as_of": naive_utc(as_of).isoformat(), **asdict(counts)}


def score_stage(
    warehouse_url: str, as_of: datetime, model: str | Path | None = None
) -> dict[str, Any]:
    m = load_model(model)
    with Warehouse(warehouse_url) as wh:
        summary = score_snapshot(wh, m, as_of, where=str(model or "pql_default"))
    out = asdict(summary)
    out["as_of"] = summary.as_of.isoformat()
    return out


def triggers_stage(
    warehouse_url: str,
    as_of: datetime,
    model: str | Path | None = None,
    triggers_path: str | Path | None = None,
    calendar_path: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate the triggers for a scored snapshot; fire new episodes with SLA due times."""
    from handoff.sla import load_calendar
    from handoff.triggers import load_triggers, run_triggers

    m = load_model(model)
    with Warehouse(warehouse_url) as wh:
        summary = run_triggers(
            wh, as_of, m.model_version, load_triggers(triggers_path), load_calendar(calendar_path)
        )
    out = asdict(summary)
    return json.loads(json.dumps(out, default=str))


def route_stage(
    warehouse_url: str, as_of: datetime, model: str | Path | None = None
) -> dict[str, Any]:
    """Route the snapshot's accounts: owner and SLA, holdout, no-touch lane or queue."""
    from handoff.routing import run_routing

    m = load_model(model)
    with Warehouse(warehouse_url) as wh:
        summary = run_routing(wh, as_of, m.model_version)
    return {
        "as_of": naive_utc(as_of).isoformat(),
        "model_version": m.model_version,
        "accounts": summary.accounts,
        "decisions": summary.decisions,
        "by_owner": summary.by_owner,
    }


def context_stage(
    warehouse_url: str, as_of: datetime, model: str | Path | None = None
) -> dict[str, Any]:
    """Build the sales context package, with talking points, for every routed account."""
    from handoff.context import run_context

    m = load_model(model)
    with Warehouse(warehouse_url) as wh:
        n = run_context(wh, as_of, m.model_version)
    return {"as_of": naive_utc(as_of).isoformat(), "model_version": m.model_version, "packages": n}


def top_accounts(
    warehouse_url: str, as_of: datetime, model_version: str, n: int = 10
) -> pd.DataFrame:
    """The n highest-scoring accounts of a snapshot, with their tier and reasons."""
    sql = f"""
        SELECT entity_id AS account, score, status, status_label, breakdown, reasons
        FROM {SCORE_HISTORY_TABLE}
        WHERE entity_type = 'account' AND as_of = {literal(naive_utc(as_of))}
          AND model_version = {literal(model_version)}
        ORDER BY score DESC, entity_id
        LIMIT {int(n)}
    """
    with Warehouse(warehouse_url) as wh:
        df = wh.query(sql)
    df["reasons"] = df["reasons"].map(json.loads)
    df["breakdown"] = df["breakdown"].map(json.loads)
    return df


def sync_stage(
    warehouse_url: str,
    destination: Any,
    crm: str,
    as_of: datetime | None = None,
    dry_run: bool = False,
    model_path: str | Path | None = None,
    mapping_path: str | Path | None = None,
    provision: bool = True,
    progress: Any = None,
) -> Any:
    """Provision the mapping's fields (idempotent), then push the latest snapshot's changes
    and new rep tasks to `destination`. A dry run provisions nothing and writes nothing."""
    from handoff.sync.mapping import load_mapping
    from handoff.sync.provision import provision_mapping
    from handoff.sync.run import run_sync
    from handoff.sync.snapshot import latest_as_of

    model = load_model(model_path)
    mapping = load_mapping(mapping_path)
    with Warehouse(warehouse_url) as wh:
        latest = latest_as_of(wh, model.model_version)
        current = latest is not None and (as_of is None or naive_utc(as_of) == latest)
        if provision and not dry_run and current:  # a backfill makes no CRM call at all
            provision_mapping(destination, mapping, crm)  # type: ignore[arg-type]
        return run_sync(
            wh, destination, model, mapping, crm, as_of=as_of, dry_run=dry_run,  # type: ignore[arg-type]
            progress=progress,
        )  # fmt: skip


def outcomes_stage(
    warehouse_url: str,
    destination: Any,
    crm: str,
    now: datetime | None = None,
    mapping_path: str | Path | None = None,
) -> dict[str, Any]:
    """Pull what changed in the CRM since the watermarks (dispositions, tasks, deals), then
    rebuild handoff_outcomes: one row per handoff with what happened after it."""
    from datetime import UTC

    from handoff.outcomes.handoffs import build_handoff_outcomes
    from handoff.outcomes.pull import pull_outcomes
    from handoff.sync.mapping import load_mapping

    now = naive_utc(now or datetime.now(UTC))
    with Warehouse(warehouse_url) as wh:
        pulled = pull_outcomes(wh, destination, load_mapping(mapping_path), crm, now=now)
        outcomes = build_handoff_outcomes(wh, now)
    decided = outcomes["disposition"].notna()
    summary = {
        "pull": pulled.as_dict(),
        "handoffs": len(outcomes),
        "routed": int(outcomes["decision"].eq("routed").sum()),
        "holdout": int(outcomes["decision"].eq("holdout").sum()),
        "dispositioned": int(decided.sum()),
        "accepted": int(outcomes["disposition"].eq("accepted").sum()),
        "touched": int(outcomes["first_touch_at"].notna().sum()),
        "opportunities": int(outcomes["opportunity_opened_at"].notna().sum()),
        "won": int(outcomes["won"].eq(True).sum()),
    }
    log.info("handoff outcomes as of %s: %s", now, summary)
    return summary


def calibrate_stage(
    warehouse_url: str,
    out_dir: str | Path,
    model_path: str | Path | None = None,
    target: str | None = None,
    horizon_days: int | None = None,
    config_path: str | Path | None = None,
    now: datetime | None = None,
) -> Any:
    """Funnel metrics, lift over holdout, calibration against `target`, the HTML report, its
    headline figures as JSON beside it, and a proposed model YAML (never applied) in
    `out_dir`. Returns the CalibrationSummary."""
    from handoff.calibration import load_calibration_config, run_calibration

    config = load_calibration_config(config_path) if config_path else None
    with Warehouse(warehouse_url) as wh:
        summary = run_calibration(
            wh, load_model(model_path), target=target, horizon_days=horizon_days,
            out_dir=out_dir, config=config, now=now,
        )  # fmt: skip
    headline = summary.report_path.with_suffix(".json")
    headline.write_text(json.dumps(summary.as_dict(), indent=2, default=str))
    log.info("calibration report %s, headline figures %s", summary.report_path, headline)
    return summary
