"""The snapshots a sync pushes: one row per scored account (and per PQL user) of an as_of.

Only the latest snapshot of a model version is ever pushed: a backfill writes history into
the warehouse, never stale values into the CRM.
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd

from handoff.config.model import ScoringModel
from handoff.config.source import SourceConfig
from handoff.features import ACCOUNT_FEATURES_TABLE
from handoff.scoring import SCORE_HISTORY_TABLE
from handoff.warehouse import Warehouse, literal, naive_utc

ACCOUNT_COLUMNS = [
    "account_domain", "account_name", "as_of", "model_version", "pqa_score", "tier", "pql_status",
    "score_feature_usage", "score_collaboration", "score_velocity", "score_intent",
    "score_firmographic", "top_reasons", "trigger_label", "trigger_fired_at", "sla_due_at",
    "decision", "owner_email", "owner_name", "holdout", "episode_id", "context_package",
    "talking_points", "active_users_30d", "departments_active_30d", "max_usage_ratio_30d",
]  # fmt: skip
USER_COLUMNS = [
    "user_id", "email", "first_name", "last_name", "title", "account_domain", "account_name",
    "as_of", "model_version", "pql_score", "pql_status", "top_reasons",
]  # fmt: skip


def latest_as_of(wh: Warehouse, model_version: str) -> datetime | None:
    if not wh.has_table(SCORE_HISTORY_TABLE):
        return None
    value = wh.scalar(
        f"SELECT max(as_of) FROM {SCORE_HISTORY_TABLE} "
        f"WHERE model_version = {literal(model_version)}"
    )
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _optional(wh: Warehouse, table: str, sql: str) -> pd.DataFrame | None:
    return wh.query(sql) if wh.has_table(table) else None


def _account_names(wh: Warehouse, src: SourceConfig) -> pd.DataFrame:
    a = src.accounts
    return wh.query(
        f"SELECT {a.domain} AS account_domain, {a.name} AS account_name FROM {a.table}"
    ).drop_duplicates("account_domain")


def build_snapshot(
    wh: Warehouse, model: ScoringModel, as_of: datetime, src: SourceConfig
) -> pd.DataFrame:
    """The accounts of one snapshot with everything the CRM shows (ACCOUNT_COLUMNS)."""
    t = literal(naive_utc(as_of))
    mv = literal(model.model_version)
    acc = wh.query(
        f"SELECT entity_id AS account_domain, as_of, model_version, score AS pqa_score, "
        f"status AS tier, breakdown, reasons FROM {SCORE_HISTORY_TABLE} "
        f"WHERE entity_type = 'account' AND as_of = {t} AND model_version = {mv} "
        "ORDER BY entity_id"
    )
    users = wh.query(
        f"SELECT account_domain, status FROM {SCORE_HISTORY_TABLE} "
        f"WHERE entity_type = 'user' AND as_of = {t} AND model_version = {mv} "
        "AND account_domain IS NOT NULL"
    )
    rank = {s.name: i for i, s in enumerate(model.pql.statuses)}
    users["rank"] = users["status"].map(rank)
    best = users.sort_values("rank").drop_duplicates("account_domain")
    acc = acc.merge(
        best[["account_domain", "status"]].rename(columns={"status": "pql_status"}),
        on="account_domain",
        how="left",
    )
    breakdown = acc["breakdown"].map(json.loads)
    for cat in ("feature_usage", "collaboration", "velocity", "intent", "firmographic"):
        acc[f"score_{cat}"] = breakdown.map(lambda b, c=cat: b.get(c))
    acc["top_reasons"] = acc["reasons"].map(_reasons_text)
    feats = wh.query(
        "SELECT account_domain, active_users_30d, departments_active_30d, max_usage_ratio_30d "
        f"FROM {ACCOUNT_FEATURES_TABLE} WHERE as_of = {t}"
    )
    acc = acc.merge(feats, on="account_domain", how="left")
    routes = _optional(
        wh,
        "routing_decisions",
        "SELECT account_domain, decision, owner_email, owner_name, sla_due_at, trigger_id, "
        f"trigger_fired_at, episode_id FROM routing_decisions WHERE as_of = {t}",
    )
    if routes is not None:
        acc = acc.merge(routes, on="account_domain", how="left")
    labels = _optional(
        wh,
        "trigger_events",
        f"SELECT episode_id, label AS trigger_label FROM trigger_events WHERE fired_at = {t}",
    )
    if labels is not None and "episode_id" in acc.columns:
        acc = acc.merge(labels.drop_duplicates("episode_id"), on="episode_id", how="left")
    packages = _optional(
        wh,
        "context_packages",
        "SELECT account_domain, text AS context_package, talking_points "
        f"FROM context_packages WHERE as_of = {t}",
    )
    if packages is not None:
        acc = acc.merge(packages, on="account_domain", how="left")
        acc["talking_points"] = acc["talking_points"].map(_talking_text)
    acc = acc.merge(_account_names(wh, src), on="account_domain", how="left")
    # an account the product never named (a domain seen only in emails) shows its domain
    acc["account_name"] = acc["account_name"].fillna(acc["account_domain"])
    for col in ACCOUNT_COLUMNS:
        if col not in acc.columns:
            acc[col] = None
    acc["holdout"] = acc["decision"].eq("holdout")
    return acc[ACCOUNT_COLUMNS]


def build_user_snapshot(
    wh: Warehouse,
    model: ScoringModel,
    as_of: datetime,
    src: SourceConfig,
    statuses: list[str] | None = None,
) -> pd.DataFrame:
    """The PQL users of one snapshot (USER_COLUMNS), those with a status in `statuses`."""
    t = literal(naive_utc(as_of))
    mv = literal(model.model_version)
    where = ""
    if statuses is not None:
        if not statuses:
            return pd.DataFrame(columns=USER_COLUMNS)
        where = " AND h.status IN (" + ", ".join(literal(s) for s in statuses) + ")"
    u = src.users
    name = f"u.{u.name}" if u.name else "NULL"
    users = wh.query(
        f"SELECT h.entity_id AS user_id, lower(u.{u.email}) AS email, {name} AS full_name, "
        f"u.{u.title} AS title, h.account_domain, h.as_of, h.model_version, "
        f"h.score AS pql_score, h.status AS pql_status, h.reasons "
        f"FROM {SCORE_HISTORY_TABLE} h JOIN {u.table} u "
        f"ON CAST(u.{u.user_id} AS VARCHAR) = h.entity_id "
        f"WHERE h.entity_type = 'user' AND h.as_of = {t} AND h.model_version = {mv}{where} "
        "ORDER BY h.entity_id"
    )
    users = users[users["email"].notna()].drop_duplicates("email")
    first, last = _split_names(users["full_name"], users["email"])
    users["first_name"], users["last_name"] = first, last
    users["top_reasons"] = users["reasons"].map(_reasons_text)
    users = users.merge(_account_names(wh, src), on="account_domain", how="left")
    # a CRM contact / lead needs a company: free-mail users show their own address's domain
    users["account_name"] = users["account_name"].fillna(users["account_domain"])
    users["account_name"] = users["account_name"].fillna(users["email"].str.split("@").str[-1])
    return users[USER_COLUMNS].reset_index(drop=True)


def _split_names(full: pd.Series, email: pd.Series) -> tuple[list, list]:
    """First and last name from a full name; without one, the e-mail's local part is the
    last name (Salesforce requires a last name on a Lead)."""
    first, last = [], []
    for name, mail in zip(full, email, strict=True):
        parts = str(name).split() if isinstance(name, str) and name.strip() else []
        if len(parts) >= 2:
            first.append(" ".join(parts[:-1]))
            last.append(parts[-1])
        else:
            first.append(None)
            last.append(parts[0] if parts else str(mail).split("@")[0])
    return first, last


def _reasons_text(reasons: str | None) -> str | None:
    if not reasons:
        return None
    items = json.loads(reasons)
    return "; ".join(f"{r['label']} ({r['points']:+g})" for r in items) or None


def _talking_text(points: object) -> str | None:
    if not isinstance(points, str) or not points:
        return None
    out = []
    for i, p in enumerate(json.loads(points), 1):
        out.append(f"{i}. {p.get('label', '')}: {p.get('opening', '')}")
        out += [f"   - {q}" for q in p.get("discovery", [])]
    return "\n".join(out) or None
