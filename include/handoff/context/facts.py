"""Per-account product facts for the context package, in one pushed-down query.

The query reads the mapped users and events tables (names from source.yaml) for the routed
accounts only and returns long rows (account_domain, kind, key, n, days, val, first_at,
last_at, role, department, title, email); `collect_facts` folds them into one dict per
account. Only rows of the routed accounts and a handful of aggregates leave the warehouse.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from handoff.config.source import SourceConfig
from handoff.warehouse import Warehouse, ident, literal, naive_utc

SESSION_SPAN_HOURS = 8  # a session lasts until the user's last event within this many hours

FACT_COLUMNS = [
    "account_domain", "kind", "key", "n", "days", "val", "first_at", "last_at",
    "role", "department", "title", "email",
]  # fmt: skip


def facts_sql(src: SourceConfig, domains: list[str], as_of: datetime) -> str:
    """The one SELECT of long fact rows for `domains` as of `as_of` (DuckDB dialect)."""
    as_of = naive_utc(as_of)
    u, e = src.users, src.events
    t = literal(as_of)

    def ago(days: int) -> str:
        return literal(as_of - timedelta(days=days))

    fam_rows = ", ".join(
        f"({literal(name)}, {literal(fam)})"
        for fam, names in src.event_families.items()
        for name in names
    )
    dom_list = ", ".join(literal(d.lower()) for d in sorted(set(domains))) or "NULL"
    nulls = "CAST(NULL AS VARCHAR)"

    def row(
        kind: str,
        key: str = nulls,
        n: str = "CAST(NULL AS BIGINT)",
        days: str = "CAST(NULL AS BIGINT)",
        val: str = "CAST(NULL AS DOUBLE)",
        first_at: str = "CAST(NULL AS TIMESTAMP)",
        last_at: str = "CAST(NULL AS TIMESTAMP)",
        who: str = f"{nulls}, {nulls}, {nulls}, {nulls}",
    ) -> str:
        return (
            f"account_domain, {literal(kind)} AS kind, CAST({key} AS VARCHAR) AS key, "
            f"CAST({n} AS BIGINT) AS n, CAST({days} AS BIGINT) AS days, "
            f"CAST({val} AS DOUBLE) AS val, CAST({first_at} AS TIMESTAMP) AS first_at, "
            f"CAST({last_at} AS TIMESTAMP) AS last_at, {who}"
        )

    def per(kind: str, family: str, since: str | None, key: str = "feature") -> str:
        window = f" AND t >= {since}" if since else ""
        return f"""
SELECT {
            row(
                kind,
                key,
                "count(*)",
                "count(DISTINCT CAST(t AS DATE))",
                "max(value)",
                "min(t)",
                "max(t)",
            )
        }
FROM ev WHERE family = {literal(family)}{window}
GROUP BY account_domain, {key}"""

    return f"""
WITH us AS (
    SELECT
        CAST({ident(u.user_id)} AS VARCHAR) AS user_id,
        lower(trim(split_part({ident(u.email)}, '@', 2))) AS account_domain,
        CAST({ident(u.email)} AS VARCHAR) AS email,
        CAST({ident(u.title)} AS VARCHAR) AS title,
        CAST({ident(u.role)} AS VARCHAR) AS role,
        CAST({ident(u.department)} AS VARCHAR) AS department,
        {ident(u.created_at)} AS created_at
    FROM {ident(u.table)}
    WHERE {ident(u.created_at)} < {t}
      AND lower(trim(split_part({ident(u.email)}, '@', 2))) IN ({dom_list})
),
ev AS MATERIALIZED (
    SELECT
        us.account_domain,
        us.user_id,
        CAST(e.{ident(e.name)} AS VARCHAR) AS event_name,
        e.{ident(e.occurred_at)} AS t,
        CAST(e.{ident(e.feature)} AS VARCHAR) AS feature,
        CAST(e.{ident(e.value)} AS DOUBLE) AS value,
        fam.family
    FROM {ident(e.table)} AS e
    JOIN us ON CAST(e.{ident(e.user_id)} AS VARCHAR) = us.user_id
    LEFT JOIN (VALUES {fam_rows}) AS fam (name, family) ON fam.name = e.{ident(e.name)}
    WHERE e.{ident(e.occurred_at)} < {t}
      AND e.{ident(e.occurred_at)} >= {ago(src.lookback_days)}
),
per_user AS (
    SELECT
        user_id,
        count(*) FILTER (WHERE t >= {ago(30)}) AS n30,
        count(DISTINCT CAST(t AS DATE)) FILTER (WHERE t >= {ago(30)}) AS days30,
        max(t) AS last_t
    FROM ev
    GROUP BY user_id
),
last_session AS (
    SELECT account_domain, user_id, t
    FROM (
        SELECT account_domain, user_id, t,
            row_number() OVER (PARTITION BY account_domain ORDER BY t DESC, user_id) AS rn
        FROM ev WHERE family = 'login'
    ) AS s
    WHERE rn = 1
)
SELECT {
        row(
            "user",
            "us.user_id",
            "coalesce(pu.n30, 0)",
            "coalesce(pu.days30, 0)",
            first_at="us.created_at",
            last_at="pu.last_t",
            who="us.role, us.department, us.title, us.email",
        )
    }
FROM us LEFT JOIN per_user AS pu ON pu.user_id = us.user_id
UNION ALL
SELECT {
        row(
            "feature",
            "coalesce(feature, event_name)",
            "count(*)",
            "count(DISTINCT CAST(t AS DATE))",
            last_at="max(t)",
        )
    }
FROM ev WHERE family IN ('feature_used', 'core_action') AND t >= {ago(30)}
GROUP BY account_domain, coalesce(feature, event_name)
UNION ALL
SELECT {row("core_14d", "event_name", "count(*)", last_at="max(t)")}
FROM ev WHERE family = 'core_action' AND t >= {ago(14)}
GROUP BY account_domain, event_name
UNION ALL {per("integration", "integration_connected", None)}
UNION ALL {per("setup_abandoned", "setup_abandoned", ago(30))}
UNION ALL {per("support_ticket", "support_contact", ago(30))}
UNION ALL {per("enterprise_feature", "enterprise_feature_interest", ago(30))}
UNION ALL {per("usage_limit", "plan_usage", ago(30))}
UNION ALL {per("pricing_view", "pricing_page_view", ago(30), key="event_name")}
UNION ALL {per("invite", "invite_sent", ago(30), key="event_name")}
UNION ALL
SELECT {
        row(
            "activation",
            first_at="min(t) FILTER (WHERE family = 'onboarding_completed')",
            last_at="min(t) FILTER (WHERE family = 'core_action')",
        )
    }
FROM ev GROUP BY account_domain
UNION ALL
SELECT {
        row(
            "trend",
            n="count(*) FILTER (WHERE t >= " + ago(14) + ")",
            val="count(*) FILTER (WHERE t < " + ago(14) + " AND t >= " + ago(28) + ")",
        )
    }
FROM ev GROUP BY account_domain
UNION ALL
SELECT {row("session", "uid", first_at="s0", last_at="s1")}
FROM (
    SELECT ls.account_domain, ls.user_id AS uid, min(ls.t) AS s0, max(ev.t) AS s1
    FROM last_session AS ls
    JOIN ev ON ev.user_id = ls.user_id AND ev.t >= ls.t
        AND ev.t < ls.t + INTERVAL {SESSION_SPAN_HOURS} HOUR
    GROUP BY ls.account_domain, ls.user_id
) AS ss
"""


def query_facts(
    wh: Warehouse, src: SourceConfig, domains: list[str], as_of: datetime
) -> pd.DataFrame:
    """Long fact rows for `domains` (one query); empty frame for no domains."""
    if not domains:
        return pd.DataFrame(columns=FACT_COLUMNS)
    return wh.query(facts_sql(src, domains, as_of))[FACT_COLUMNS]


def _ts(v: Any) -> pd.Timestamp | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v)


def frequency(days_used: int, daily_min_days: int, weekly_min_days: int) -> str:
    """daily / weekly / occasional / once, from distinct days of use in the last 30."""
    if days_used >= daily_min_days:
        return "daily"
    if days_used >= weekly_min_days:
        return "weekly"
    return "once" if days_used <= 1 else "occasional"


def collect_facts(
    long: pd.DataFrame,
    daily_min_days: int = 15,
    weekly_min_days: int = 4,
    competitor_topics: tuple[str, ...] = ("competitor_comparison",),
    executive_keywords: tuple[str, ...] = ("chief", "vp", "vice president", "head of"),
) -> dict[str, dict[str, Any]]:
    """Fold the long fact rows into one plain dict per account (JSON-ready values)."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for rec in long.to_dict("records"):
        rec = {k: (None if _missing(v) else v) for k, v in rec.items()}
        grouped.setdefault(str(rec["account_domain"]), {}).setdefault(rec["kind"], []).append(rec)
    exec_re = re.compile(
        r"\b(" + "|".join(re.escape(k.lower()) for k in executive_keywords) + r")\b"
    )
    return {
        domain: _account_facts(
            grouped[domain], daily_min_days, weekly_min_days, competitor_topics, exec_re
        )
        for domain in sorted(grouped)
    }


def _missing(v: Any) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _iso(v: Any) -> str | None:
    ts = _ts(v)
    return None if ts is None else ts.isoformat(sep=" ", timespec="minutes")


def _sorted(rows: list[dict[str, Any]], *keys: str, desc: tuple[str, ...] = ()) -> list:
    """Sort by keys (descending for those in desc); None sorts last."""
    out = list(rows)
    for key in reversed(keys):
        present = [r for r in out if r[key] is not None]
        absent = [r for r in out if r[key] is None]
        out = sorted(present, key=lambda r, k=key: r[k], reverse=key in desc) + absent
    return out


def _account_facts(
    kinds: dict[str, list[dict[str, Any]]],
    daily_min: int,
    weekly_min: int,
    competitor_topics: tuple[str, ...],
    exec_re: re.Pattern[str],
) -> dict[str, Any]:
    def kind(name: str) -> list[dict[str, Any]]:
        return kinds.get(name, [])

    users = _sorted(kind("user"), "n", "key", desc=("n",))
    active = [u for u in users if (u["days"] or 0) > 0]
    roles: dict[str, int] = {}
    for u in active:
        roles[u["role"] or "unknown"] = roles.get(u["role"] or "unknown", 0) + 1
    users_out = [
        {
            "user_id": r["key"],
            "name": display_name(r["email"]),
            "email": r["email"],
            "title": r["title"],
            "role": r["role"],
            "department": r["department"],
            "events_30d": int(r["n"] or 0),
            "active_days_30d": int(r["days"] or 0),
            "last_active_at": _iso(r["last_at"]),
        }
        for r in users
    ]
    features = _sorted(kind("feature"), "days", "n", "key", desc=("days", "n"))
    feats_out = [
        {
            "feature": r["key"],
            "uses_30d": int(r["n"]),
            "days_30d": int(r["days"]),
            "frequency": frequency(int(r["days"]), daily_min, weekly_min),
            "last_used_at": _iso(r["last_at"]),
        }
        for r in features
    ]
    core = _sorted(kind("core_14d"), "n", "key", desc=("n",))
    integ = _sorted([r for r in kind("integration") if r["key"]], "first_at", "key")
    integrations = [{"name": r["key"], "connected_at": _iso(r["last_at"])} for r in integ]
    connected = {i["name"] for i in integrations}
    abandoned = [
        {"name": r["key"], "attempts_30d": int(r["n"]), "last_at": _iso(r["last_at"])}
        for r in _sorted(kind("setup_abandoned"), "key")
        if r["key"] and r["key"] not in connected
    ]
    tickets = _sorted(kind("support_ticket"), "n", "key", desc=("n",))
    by_topic = {str(r["key"]): int(r["n"]) for r in tickets}
    ent = _sorted([r for r in kind("enterprise_feature") if r["key"]], "last_at", "key",
                  desc=("last_at",))  # fmt: skip
    limits = _sorted(kind("usage_limit"), "val", "key", desc=("val",))
    top_limit = None
    if limits and limits[0]["val"] is not None:
        r = limits[0]
        top_limit = {
            "metric": r["key"],
            "ratio": round(float(r["val"]), 3),
            "at": _iso(r["last_at"]),
        }
    pricing, invites = kind("pricing_view"), kind("invite")
    first_act = None
    if kind("activation"):
        a = kind("activation")[0]
        first_act = _iso(a["first_at"] if a["first_at"] is not None else a["last_at"])
    trend = kind("trend")
    last_session = None
    if kind("session"):
        s = kind("session")[0]
        start, end = _ts(s["first_at"]), _ts(s["last_at"])
        who = [u for u in users if u["key"] == s["key"]]
        last_session = {
            "at": _iso(start),
            "duration_minutes": round((end - start).total_seconds() / 60)
            if start is not None and end is not None
            else None,
            "user": display_name(who[0]["email"]) if who else None,
        }
    execs = [
        u
        for u in users_out
        if u["active_days_30d"] > 0 and u["title"] and exec_re.search(u["title"].lower())
    ]
    pricing_max = max((r["val"] for r in pricing if r["val"] is not None), default=None)
    invite_last = max((r["last_at"] for r in invites if r["last_at"] is not None), default=None)
    return {
        "users_total": len(users),
        "active_users_30d": len(active),
        "roles": dict(sorted(roles.items())),
        "departments_active": sorted({u["department"] for u in active if u["department"]}),
        "departments_all": sorted({u["department"] for u in users if u["department"]}),
        "users": users_out,
        "executives_active": execs,
        "features": feats_out,
        "core_workflows_14d": {
            "total": sum(int(r["n"]) for r in core),
            "by_action": {str(r["key"]): int(r["n"]) for r in core},
        },
        "integrations": integrations,
        "abandoned_setups": abandoned,
        "support_tickets_30d": {"total": sum(by_topic.values()), "by_topic": by_topic},
        "competitor_mentions": sum(v for k, v in by_topic.items() if k in competitor_topics),
        "enterprise_features_30d": [str(r["key"]) for r in ent],
        "usage_limit": top_limit,
        "pricing_views_30d": sum(int(r["n"]) for r in pricing),
        "pricing_max_seconds_30d": None if pricing_max is None else float(pricing_max),
        "invites_30d": sum(int(r["n"]) for r in invites),
        "last_invite_at": _iso(invite_last),
        "first_activation_at": first_act,
        "events_14d": int(trend[0]["n"] or 0) if trend else 0,
        "events_prev_14d": int(trend[0]["val"] or 0) if trend else 0,
        "last_session": last_session,
    }


def display_name(email: Any) -> str | None:
    """'ada.lovelace@acme.com' -> 'Ada Lovelace' (users tables rarely map a name column)."""
    if email is None or (isinstance(email, float) and pd.isna(email)):
        return None
    local = str(email).split("@", 1)[0]
    parts = [p.rstrip("0123456789") for p in re.split(r"[._\-+]", local)]
    parts = [p for p in parts if p]
    return " ".join(p.capitalize() for p in parts) or None
