"""Routing as a stage: read scores, features, firmographics, triggers and earlier decisions
from the warehouse, route, and replace the as_of slice of `routing_decisions`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from handoff.features import ACCOUNT_FEATURES_TABLE
from handoff.routing.config import Roster, RoutingConfig, load_roster, load_routing
from handoff.routing.route import OUTPUT_COLUMNS, route
from handoff.scoring.history import SCORE_HISTORY_TABLE
from handoff.warehouse import Warehouse, literal, naive_utc

log = logging.getLogger(__name__)

ROUTING_TABLE = "routing_decisions"
TRIGGER_TABLE = "trigger_events"
FIRMOGRAPHICS_TABLE = "firmographics"
ROUTING_DDL = """
    as_of TIMESTAMP NOT NULL,
    model_version VARCHAR,
    account_domain VARCHAR NOT NULL,
    decision VARCHAR NOT NULL,
    segment VARCHAR,
    motion VARCHAR,
    expected_acv_low DOUBLE,
    expected_acv_high DOUBLE,
    owner_role VARCHAR,
    owner_name VARCHAR,
    owner_email VARCHAR,
    region VARCHAR,
    trigger_id VARCHAR,
    sla_due_at TIMESTAMP,
    reason VARCHAR,
    episode_id VARCHAR,
    trigger_class VARCHAR,
    trigger_fired_at TIMESTAMP,
    tier VARCHAR,
    score DOUBLE,
    size_band VARCHAR,
    acv_band VARCHAR,
    country VARCHAR,
    new_assignment BOOLEAN,
    assign_order BIGINT
"""
TABLE_COLUMNS = ["as_of", "model_version", *OUTPUT_COLUMNS[1:]]
# firmographics columns that replace the product's own values when enrichment found them
FIRMO_COLUMNS = ["employees", "industry", "country", "annual_revenue"]
FIT_COLUMNS = ["icp_match", "size_band", "fit_tier"]


@dataclass(frozen=True)
class RoutingSummary:
    as_of: datetime
    model_version: str
    accounts: int
    decisions: dict[str, int] = field(default_factory=dict)  # decision -> accounts
    by_owner: dict[str, int] = field(default_factory=dict)  # owner email -> routed

    @property
    def routed(self) -> int:
        return self.decisions.get("routed", 0)


def load_accounts(wh: Warehouse, as_of: datetime, model_version: str) -> pd.DataFrame:
    """Account scores and tiers of a snapshot joined with account features and, when the
    table exists, firmographics (enriched values win where enrichment found the company)."""
    t = literal(naive_utc(as_of))
    scores = wh.query(
        f"SELECT entity_id AS account_domain, score, status AS tier FROM {SCORE_HISTORY_TABLE} "
        f"WHERE entity_type = 'account' AND as_of = {t} "
        f"AND model_version = {literal(model_version)} ORDER BY entity_id"
    )
    feats = wh.query(f"SELECT * FROM {ACCOUNT_FEATURES_TABLE} WHERE as_of = {t}")
    feats = feats.drop(columns=["as_of"])
    df = scores.merge(feats, on="account_domain", how="left")
    if wh.has_table(FIRMOGRAPHICS_TABLE):
        firmo = wh.query(f"SELECT * FROM {FIRMOGRAPHICS_TABLE}")
        if "domain" in firmo.columns and not firmo.empty:
            firmo = firmo.rename(columns={"domain": "account_domain"})
            firmo["account_domain"] = firmo["account_domain"].str.lower()
            if "fetched_at" in firmo.columns:
                firmo = firmo.sort_values("fetched_at")
            firmo = firmo.drop_duplicates("account_domain", keep="last")
            found = (
                firmo["status"].eq("found")
                if "status" in firmo.columns
                else pd.Series(True, index=firmo.index)
            )
            keep = ["account_domain"] + [
                c for c in FIRMO_COLUMNS + FIT_COLUMNS if c in firmo.columns
            ]
            firmo = firmo[keep].copy()
            for c in FIRMO_COLUMNS:
                if c in firmo.columns:
                    firmo.loc[~found, c] = None
            df = df.merge(firmo, on="account_domain", how="left", suffixes=("", "_firmo"))
            for c in FIRMO_COLUMNS + FIT_COLUMNS:
                if f"{c}_firmo" in df.columns:
                    df[c] = df[f"{c}_firmo"].combine_first(df[c])
                    df = df.drop(columns=[f"{c}_firmo"])
    if "fit_tier" not in df.columns:
        # ICP fit from the account's firmographics (the product's own, filled by enrichment)
        from handoff.enrich import fit, load_icp

        df = fit(df, load_icp())
    return df


def load_triggers(wh: Warehouse, as_of: datetime, model_version: str, lookback_days: int = 7):
    """This as_of's trigger events: the `as_of` slice if the table has one, else those that
    fired in the `lookback_days` up to as_of; of this model version when the table says."""
    if not wh.has_table(TRIGGER_TABLE):
        return pd.DataFrame()
    cols = set(wh.columns(TRIGGER_TABLE))
    t = naive_utc(as_of)
    if "as_of" in cols:
        where = [f"as_of = {literal(t)}"]
    else:
        start = t - timedelta(days=lookback_days)
        where = [f"fired_at <= {literal(t)}", f"fired_at > {literal(start)}"]
    if "model_version" in cols:
        where.append(f"(model_version = {literal(model_version)} OR model_version IS NULL)")
    return wh.query(f"SELECT * FROM {TRIGGER_TABLE} WHERE {' AND '.join(where)}")


def load_history(wh: Warehouse, as_of: datetime, days: int) -> pd.DataFrame:
    if not wh.has_table(ROUTING_TABLE):
        return pd.DataFrame(columns=TABLE_COLUMNS)
    t = naive_utc(as_of)
    return wh.query(
        f"SELECT * FROM {ROUTING_TABLE} WHERE as_of < {literal(t)} "
        f"AND as_of >= {literal(t - timedelta(days=days))} ORDER BY as_of, account_domain"
    )


def run_routing(
    wh: Warehouse,
    as_of: datetime,
    model_version: str,
    config: RoutingConfig | None = None,
    roster: Roster | None = None,
    trigger_lookback_days: int = 7,
    history_days: int = 90,
) -> RoutingSummary:
    """Route the accounts of one scored snapshot and replace the as_of slice of
    routing_decisions (idempotent: a rerun over the same inputs writes the same rows)."""
    config = config or load_routing()
    roster = roster or load_roster()
    as_of = naive_utc(as_of)
    accounts = load_accounts(wh, as_of, model_version)
    triggers = load_triggers(wh, as_of, model_version, trigger_lookback_days)
    history = load_history(wh, as_of, history_days)
    out = route(accounts, triggers, history, as_of, config, roster)
    out.insert(1, "model_version", model_version)
    out = out[TABLE_COLUMNS]
    wh.replace_df(ROUTING_TABLE, out, {"as_of": as_of}, ROUTING_DDL)
    routed = out[out["decision"] == "routed"]
    summary = RoutingSummary(
        as_of=as_of,
        model_version=model_version,
        accounts=len(out),
        decisions=out["decision"].value_counts().to_dict(),
        by_owner=routed["owner_email"].value_counts().to_dict(),
    )
    log.info("routing as of %s: %s", as_of, summary.decisions)
    return summary
