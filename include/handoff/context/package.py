"""The sales context package (seed 000 part 3): one per routed account, as JSON and text.

Sections: account snapshot, product usage summary, PQA score and trigger, routing, expansion
angle, known friction, and talking points chosen for the account's trigger and top reasons.
`assemble_package` is pure (hand-made inputs in tests); `build_packages` reads the warehouse
for the routed accounts of a routing run; `run_context` writes `context_packages`.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from handoff.config import load_source
from handoff.config.source import SourceConfig
from handoff.context.config import TalkingPoints, load_talking_points
from handoff.context.expansion import expansion_angle
from handoff.context.facts import collect_facts, query_facts
from handoff.context.render import render_text
from handoff.routing.run import ROUTING_TABLE, load_accounts
from handoff.scoring.history import SCORE_HISTORY_TABLE
from handoff.warehouse import Warehouse, literal, naive_utc

log = logging.getLogger(__name__)

CONTEXT_TABLE = "context_packages"
CONTEXT_DDL = """
    as_of TIMESTAMP NOT NULL,
    model_version VARCHAR,
    account_domain VARCHAR NOT NULL,
    package VARCHAR,
    text VARCHAR,
    talking_points VARCHAR
"""
PACKAGE_COLUMNS = ["as_of", "model_version", "account_domain", "package", "text", "talking_points"]


def jsonable(v: Any) -> Any:
    """Plain JSON values: NaN/NaT -> None, numpy scalars -> Python, times -> ISO strings."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return pd.Timestamp(v).isoformat(sep=" ", timespec="minutes")
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating | float):
        f = float(v)
        return None if math.isnan(f) else (int(f) if f.is_integer() else round(f, 2))
    return v


def _trend(e14: int, prev: int, threshold: float) -> str:
    if prev == 0:
        return "growing" if e14 > 0 else "stable"
    if e14 > prev * (1 + threshold):
        return "growing"
    if e14 < prev * (1 - threshold):
        return "declining"
    return "stable"


def assemble_package(
    as_of: datetime,
    decision: dict[str, Any],
    account: dict[str, Any],
    score: dict[str, Any],
    facts: dict[str, Any],
    talking: TalkingPoints,
    premium_features: set[str] | frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """One account's package (JSON-ready dict, talking points included)."""
    s = talking.settings
    as_of_ts = pd.Timestamp(naive_utc(as_of))
    first = facts.get("first_activation_at") or jsonable(account.get("first_signup_at"))
    days_since = (as_of_ts - pd.Timestamp(first)).days if first else None
    usage = {
        "users_total": facts.get("users_total", 0),
        "active_users_30d": facts.get("active_users_30d", 0),
        "roles": facts.get("roles", {}),
        "departments_active": facts.get("departments_active", []),
        "departments_all": facts.get("departments_all", []),
        "top_users": (facts.get("users") or [])[: s.max_users_shown],
        "executives_active": facts.get("executives_active", []),
        "features": (facts.get("features") or [])[: s.max_features_shown],
        "features_total": len(facts.get("features") or []),
        "core_workflows_14d": facts.get("core_workflows_14d", {"total": 0, "by_action": {}}),
        "integrations": facts.get("integrations", []),
        "last_session": facts.get("last_session"),
        "events_14d": facts.get("events_14d", 0),
        "events_prev_14d": facts.get("events_prev_14d", 0),
        "trend": _trend(
            facts.get("events_14d", 0), facts.get("events_prev_14d", 0), s.trend_threshold
        ),
        "usage_limit": facts.get("usage_limit"),
        "enterprise_features_30d": facts.get("enterprise_features_30d", []),
        "pricing_views_30d": facts.get("pricing_views_30d", 0),
        "pricing_max_seconds_30d": facts.get("pricing_max_seconds_30d"),
        "invites_30d": facts.get("invites_30d", 0),
        "last_invite_at": facts.get("last_invite_at"),
    }
    usage["top_feature"] = usage["features"][0]["feature"] if usage["features"] else None
    usage["champion"] = usage["top_users"][0] if usage["top_users"] else None
    acc = {
        "name": account.get("name") or decision["account_domain"],
        "domain": decision["account_domain"],
        "employees": account.get("employees"),
        "size_band": decision.get("size_band") or account.get("size_band"),
        "industry": account.get("industry"),
        "country": account.get("country"),
        "plan": account.get("plan"),
        "seat_limit": account.get("seat_limit"),
        "icp_match": account.get("icp_match"),
        "fit_tier": account.get("fit_tier"),
        "first_activation_at": first,
        "days_since_activation": days_since,
        "owner": {
            "name": decision.get("owner_name"),
            "email": decision.get("owner_email"),
            "role": decision.get("owner_role"),
            "region": decision.get("region"),
        },
    }
    reasons = score.get("reasons") or []
    package = jsonable(
        {
            "as_of": as_of_ts,
            "account": acc,
            "usage": usage,
            "score": {
                "score": score.get("score"),
                "tier": score.get("tier"),
                "tier_label": score.get("tier_label"),
                "breakdown": score.get("breakdown") or {},
                "top_reasons": [
                    {k: r.get(k) for k in ("signal", "label", "category", "points", "value", "at")}
                    for r in reasons
                ],
            },
            "trigger": {
                "id": decision.get("trigger_id"),
                "class": decision.get("trigger_class"),
                "fired_at": decision.get("trigger_fired_at"),
                "episode_id": decision.get("episode_id"),
            },
            "routing": {
                k: decision.get(k)
                for k in (
                    "decision",
                    "segment",
                    "motion",
                    "acv_band",
                    "owner_role",
                    "owner_name",
                    "owner_email",
                    "region",
                    "sla_due_at",
                    "reason",
                )
            },
            "friction": {
                "open_support_tickets": (facts.get("support_tickets_30d") or {}).get("total", 0),
                "tickets_by_topic": (facts.get("support_tickets_30d") or {}).get("by_topic", {}),
                "abandoned_setups": facts.get("abandoned_setups", []),
                "competitor_mentions": facts.get("competitor_mentions", 0),
            },
        }
    )
    angle = expansion_angle(package["account"], package["usage"], s, set(premium_features))
    package["expansion"] = jsonable(
        {
            **angle,
            "acv_low": decision.get("expected_acv_low"),
            "acv_high": decision.get("expected_acv_high"),
        }
    )
    signals = [r["signal"] for r in package["score"]["top_reasons"] if r.get("signal")]
    chosen = talking.choose(package["trigger"]["id"], package["trigger"]["class"], signals)
    package["talking_points"] = [talking.render(i, tp, package) for i, tp in chosen]
    return package


def _scores(wh: Warehouse, as_of: datetime, model_version: str, domains: list[str]):
    if not domains:
        return {}
    in_list = ", ".join(literal(d) for d in domains)
    df = wh.query(
        f"SELECT entity_id, score, status, status_label, breakdown, reasons "
        f"FROM {SCORE_HISTORY_TABLE} WHERE entity_type = 'account' "
        f"AND as_of = {literal(naive_utc(as_of))} AND model_version = {literal(model_version)} "
        f"AND entity_id IN ({in_list})"
    )
    return {
        r.entity_id: {
            "score": r.score,
            "tier": r.status,
            "tier_label": r.status_label,
            "breakdown": json.loads(r.breakdown) if r.breakdown else {},
            "reasons": json.loads(r.reasons) if r.reasons else [],
        }
        for r in df.itertuples()
    }


def build_packages(
    wh: Warehouse,
    as_of: datetime,
    model_version: str,
    decisions: pd.DataFrame,
    talking: TalkingPoints | None = None,
    src: SourceConfig | None = None,
) -> pd.DataFrame:
    """Packages for the routed rows of `decisions` (columns as routing_decisions)."""
    talking = talking or load_talking_points()
    src = src or load_source()
    as_of = naive_utc(as_of)
    routed = decisions[decisions["decision"] == "routed"].sort_values("account_domain")
    domains = routed["account_domain"].tolist()
    if not domains:
        return pd.DataFrame(columns=PACKAGE_COLUMNS)
    accounts = load_accounts(wh, as_of, model_version)
    accounts = accounts[accounts["account_domain"].isin(domains)].set_index("account_domain")
    scores = _scores(wh, as_of, model_version, domains)
    s = talking.settings
    facts = collect_facts(
        query_facts(wh, src, domains, as_of),
        daily_min_days=s.daily_min_days,
        weekly_min_days=s.weekly_min_days,
        competitor_topics=tuple(s.competitor_topics),
        executive_keywords=tuple(src.executive_title_keywords),
    )
    premium = set(src.premium_features) | set(s.premium_features)
    rows = []
    for dec in routed.to_dict("records"):
        domain = dec["account_domain"]
        account = accounts.loc[domain].to_dict() if domain in accounts.index else {}
        pkg = assemble_package(
            as_of, dec, account, scores.get(domain, {}), facts.get(domain, {}), talking, premium
        )
        rows.append(
            {
                "as_of": as_of,
                "model_version": model_version,
                "account_domain": domain,
                "package": json.dumps(pkg, sort_keys=True),
                "text": render_text(pkg),
                "talking_points": json.dumps(pkg["talking_points"]),
            }
        )
    return pd.DataFrame(rows, columns=PACKAGE_COLUMNS)


def run_context(
    wh: Warehouse, as_of: datetime, model_version: str, talking: TalkingPoints | None = None
) -> int:
    """Build packages for the routed accounts of the as_of's routing decisions and replace
    the as_of slice of context_packages. Returns the number of packages written."""
    as_of = naive_utc(as_of)
    if not wh.has_table(ROUTING_TABLE):
        decisions = pd.DataFrame(columns=["account_domain", "decision"])
    else:
        decisions = wh.query(
            f"SELECT * FROM {ROUTING_TABLE} WHERE as_of = {literal(as_of)} ORDER BY account_domain"
        )
    out = build_packages(wh, as_of, model_version, decisions, talking)
    n = wh.replace_df(CONTEXT_TABLE, out, {"as_of": as_of}, CONTEXT_DDL)
    log.info("context packages as of %s: %d", as_of, n)
    return n
