"""The per-account trigger frame: what trigger conditions can read at one as_of.

One row per account of the `account_features` slice of `as_of`, with
- every account feature (`handoff.features.ACCOUNT_FEATURES`, firmographics included);
- the account's score and tier of that snapshot and model (`pqa_score`, `tier`), its users'
  PQL counts (`hot_users`, `warm_users`, `max_user_pql`) and the same for the previous
  snapshot of the model (`prev_*`; NULL when there is none);
- facts rolled up from `user_features` and, for the last 7 days, from the events table
  (`FRAME_FEATURES` lists them);
- `is_customer`: the domain is in a `customers` table (column account_domain) when the
  warehouse has one, else the plan is one of the configured paid plans.

The SQL is DuckDB dialect and transpiled by the warehouse; only per-account rows leave it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from handoff.config.source import SourceConfig, load_source
from handoff.errors import HandoffError
from handoff.features import ACCOUNT_FEATURES, ACCOUNT_FEATURES_TABLE, USER_FEATURES_TABLE
from handoff.scoring.history import SCORE_HISTORY_TABLE
from handoff.triggers.config import FrameSettings
from handoff.warehouse import Warehouse, ident, literal, naive_utc

log = logging.getLogger(__name__)

RECENT_DAYS = 7

# name -> description of the columns the frame adds to the account features
FRAME_FEATURES: dict[str, str] = {
    "pqa_score": "account score (PQA) of this snapshot",
    "tier": "account tier of this snapshot",
    "tier_rank": "position of the tier in the model's order (0 = best)",
    "hot_users": "users with a hot PQL status",
    "warm_users": "users with a warm PQL status",
    "max_user_pql": "highest user PQL score",
    "prev_as_of": "the previous snapshot of the same model (NULL: none)",
    "prev_pqa_score": "account score in the previous snapshot",
    "prev_tier": "account tier in the previous snapshot",
    "prev_tier_rank": "tier rank in the previous snapshot",
    "prev_hot_users": "hot PQL users in the previous snapshot (0 if the account was absent)",
    "prev_warm_users": "warm PQL users in the previous snapshot",
    "tier_improved": "the tier is better than in the previous snapshot",
    "is_customer": "a paying customer (customers table, or a paid plan)",
    "account_age_days": "whole days since the account's first signup",
    "max_user_pricing_views_30d": "most pricing page views of one user in 30 days",
    "pricing_return_users_30d": "users who viewed the pricing page 2+ times in 30 days",
    "max_pricing_seconds_30d": "longest pricing page view in 30 days (seconds)",
    "executives_active_7d": "VP / C-level users active in the last 7 days",
    "max_user_active_days_30d": "most active days of one user in 30 days",
    "pricing_views_7d": "pricing page views in the last 7 days",
    "pricing_view_days_7d": "distinct days with a pricing page view in the last 7 days",
    "pricing_max_seconds_7d": "longest pricing page view in the last 7 days (seconds)",
    "enterprise_interest_7d": "enterprise feature interactions (SSO, audit logs...) in 7 days",
    "contact_sales_7d": "'contact sales' clicks in the last 7 days",
    "invites_sent_7d": "teammates invited in the last 7 days",
    "billing_contacts_7d": "billing / plan questions in the last 7 days",
    "volume_pricing_questions_30d": "billing questions about volume pricing / custom plans in 30 days",
    "last_pricing_view_at": "time of the last pricing page view",
    "last_contact_sales_at": "time of the last 'contact sales' click",
    "last_enterprise_interest_at": "time of the last enterprise feature interaction",
    "days_since_pricing_view": "days since the last pricing page view",
    "days_since_contact_sales": "days since the last 'contact sales' click",
    "days_since_enterprise_interest": "days since the last enterprise feature interaction",
    "days_since_limit_approach": "days since usage was last at 80%+ of a plan limit",
    "days_since_executive_active": "days since a VP / C-level user was last active",
    "days_since_new_user": "days since the last signup",
}

_COUNTS = (
    "max_user_pricing_views_30d", "pricing_return_users_30d", "max_pricing_seconds_30d",
    "executives_active_7d", "max_user_active_days_30d", "pricing_views_7d",
    "pricing_view_days_7d", "pricing_max_seconds_7d", "enterprise_interest_7d",
    "contact_sales_7d", "invites_sent_7d", "billing_contacts_7d",
    "volume_pricing_questions_30d", "hot_users", "warm_users",
)  # fmt: skip
_SINCE = {
    "days_since_pricing_view": "last_pricing_view_at",
    "days_since_contact_sales": "last_contact_sales_at",
    "days_since_enterprise_interest": "last_enterprise_interest_at",
    "days_since_limit_approach": "last_limit_approach_at",
    "days_since_executive_active": "last_executive_active_at",
    "days_since_new_user": "last_new_user_at",
}


def frame_columns() -> list[str]:
    """Every column a trigger condition may read (firmographics come on top)."""
    return list(ACCOUNT_FEATURES) + list(FRAME_FEATURES)


def _in_list(values: list[str]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")" if values else "(NULL)"


def user_rollup_sql(as_of: datetime) -> str:
    t = literal(as_of)
    recent = literal(as_of - timedelta(days=RECENT_DAYS))
    return f"""
SELECT
    account_domain,
    max(pricing_views_30d) AS max_user_pricing_views_30d,
    count(*) FILTER (WHERE pricing_views_30d >= 2) AS pricing_return_users_30d,
    max(pricing_max_seconds_30d) AS max_pricing_seconds_30d,
    count(*) FILTER (WHERE is_executive AND last_active_at >= {recent}) AS executives_active_7d,
    max(active_days_30d) AS max_user_active_days_30d,
    max(last_pricing_view_at) AS last_pricing_view_at,
    max(last_contact_sales_at) AS last_contact_sales_at,
    max(last_enterprise_interest_at) AS last_enterprise_interest_at
FROM {USER_FEATURES_TABLE}
WHERE as_of = {t} AND account_domain IS NOT NULL
GROUP BY account_domain
"""


def recent_events_sql(src: SourceConfig, settings: FrameSettings, as_of: datetime) -> str:
    """Event-level facts of the last 7 (and 30) days the feature tables do not carry."""
    e, fam = src.events, src.event_families
    t = literal(as_of)
    recent = literal(as_of - timedelta(days=RECENT_DAYS))
    month = literal(as_of - timedelta(days=30))
    wanted = (
        fam["pricing_page_view"] + fam["enterprise_feature_interest"] + fam["contact_sales"]
        + fam["invite_sent"] + fam["billing_contact"]
    )  # fmt: skip

    def recent_count(family: str) -> str:
        return f"count(*) FILTER (WHERE event_name IN {_in_list(fam[family])} AND t >= {recent})"

    pricing = f"event_name IN {_in_list(fam['pricing_page_view'])} AND t >= {recent}"
    return f"""
WITH uf AS (
    SELECT user_id, account_domain FROM {USER_FEATURES_TABLE}
    WHERE as_of = {t} AND account_domain IS NOT NULL
),
ev AS (
    SELECT
        uf.account_domain,
        ev.{ident(e.name)} AS event_name,
        ev.{ident(e.feature)} AS feature,
        CAST(ev.{ident(e.value)} AS DOUBLE) AS value,
        ev.{ident(e.occurred_at)} AS t
    FROM {ident(e.table)} AS ev
    JOIN uf ON uf.user_id = CAST(ev.{ident(e.user_id)} AS VARCHAR)
    WHERE ev.{ident(e.occurred_at)} < {t} AND ev.{ident(e.occurred_at)} >= {month}
      AND ev.{ident(e.name)} IN {_in_list(wanted)}
)
SELECT
    account_domain,
    {recent_count("pricing_page_view")} AS pricing_views_7d,
    count(DISTINCT CAST(t AS DATE)) FILTER (WHERE {pricing}) AS pricing_view_days_7d,
    coalesce(max(value) FILTER (WHERE {pricing}), 0) AS pricing_max_seconds_7d,
    {recent_count("enterprise_feature_interest")} AS enterprise_interest_7d,
    {recent_count("contact_sales")} AS contact_sales_7d,
    {recent_count("invite_sent")} AS invites_sent_7d,
    {recent_count("billing_contact")} AS billing_contacts_7d,
    count(*) FILTER (
        WHERE event_name IN {_in_list(fam["billing_contact"])}
          AND feature IN {_in_list(settings.volume_pricing_topics)}
    ) AS volume_pricing_questions_30d
FROM ev
GROUP BY account_domain
"""


def _scores_sql(as_of: datetime, model_version: str, settings: FrameSettings, prefix: str) -> str:
    t, mv = literal(as_of), literal(model_version)
    return f"""
SELECT a.account_domain, a.score AS {prefix}pqa_score, a.status AS {prefix}tier,
    coalesce(u.hot_users, 0) AS {prefix}hot_users,
    coalesce(u.warm_users, 0) AS {prefix}warm_users,
    u.max_user_pql AS {prefix}max_user_pql
FROM {SCORE_HISTORY_TABLE} AS a
LEFT JOIN (
    SELECT account_domain,
        count(*) FILTER (WHERE status IN {_in_list(settings.hot_statuses)}) AS hot_users,
        count(*) FILTER (WHERE status IN {_in_list(settings.warm_statuses)}) AS warm_users,
        max(score) AS max_user_pql
    FROM {SCORE_HISTORY_TABLE}
    WHERE entity_type = 'user' AND as_of = {t} AND model_version = {mv}
      AND account_domain IS NOT NULL
    GROUP BY account_domain
) AS u ON u.account_domain = a.account_domain
WHERE a.entity_type = 'account' AND a.as_of = {t} AND a.model_version = {mv}
"""


def tier_order_for(model_version: str, seen: list[str]) -> list[str]:
    """The model's tiers, best first: from the model file named in model_version when it
    is that version, else the tier names sorted (tier_1 before tier_2)."""
    from handoff.config import load_model

    name = model_version.split("@", 1)[0]
    try:
        model = load_model(name)
    except HandoffError:
        model = None
    if model is not None and model.model_version == model_version:
        return [t.name for t in model.pqa.tiers]
    return sorted({s for s in seen if isinstance(s, str)})


def _rank(tiers: pd.Series, order: list[str]) -> pd.Series:
    pos = {name: float(i) for i, name in enumerate(order)}
    return tiers.map(pos).astype(float)


def _is_customer(wh: Warehouse, frame: pd.DataFrame, settings: FrameSettings) -> np.ndarray:
    table = ident(settings.customers_table)
    if wh.has_table(table):
        domains = wh.query(
            f"SELECT DISTINCT lower(account_domain) AS d FROM {table} "
            "WHERE account_domain IS NOT NULL"
        )["d"]
        return frame["account_domain"].str.lower().isin(set(domains)).to_numpy()
    return frame["plan"].isin(settings.paid_plans).to_numpy()


def trigger_frame(
    wh: Warehouse,
    as_of: datetime,
    model_version: str,
    settings: FrameSettings | None = None,
    src: SourceConfig | None = None,
    tier_order: list[str] | None = None,
) -> pd.DataFrame:
    """One row per account as of `as_of`, for the scores of `model_version`.

    Needs the feature slice (extract) and the score snapshot (score) of `as_of`.
    """
    as_of = naive_utc(as_of)
    settings = settings or FrameSettings()
    src = src or load_source()
    t = literal(as_of)
    if not wh.has_table(ACCOUNT_FEATURES_TABLE):
        raise HandoffError(
            f"no {ACCOUNT_FEATURES_TABLE} table: extract the features of {as_of.isoformat()} "
            "and score them before evaluating triggers"
        )
    acc = wh.query(
        f"SELECT * FROM {ACCOUNT_FEATURES_TABLE} WHERE as_of = {t} ORDER BY account_domain"
    )
    if acc.empty:
        log.warning("no account features as of %s: the trigger frame is empty", as_of)
        return pd.DataFrame(columns=[*acc.columns, *FRAME_FEATURES])
    has_scores = wh.has_table(SCORE_HISTORY_TABLE)
    scores = wh.query(_scores_sql(as_of, model_version, settings, "")) if has_scores else None
    if scores is None or scores.empty:
        raise HandoffError(
            f"no account scores of model {model_version} as of {as_of.isoformat()} in "
            f"{SCORE_HISTORY_TABLE}: score that snapshot before evaluating triggers"
        )
    prev_as_of = wh.scalar(
        f"SELECT max(as_of) FROM {SCORE_HISTORY_TABLE} WHERE entity_type = 'account' "
        f"AND model_version = {literal(model_version)} AND as_of < {t}"
    )
    prev_as_of = None if prev_as_of is None or pd.isna(prev_as_of) else pd.Timestamp(prev_as_of)
    frame = acc.merge(scores, on="account_domain", how="left")
    if prev_as_of is not None:
        prev = wh.query(_scores_sql(prev_as_of.to_pydatetime(), model_version, settings, "prev_"))
        prev = prev.drop(columns=["prev_max_user_pql"])
        frame = frame.merge(prev, on="account_domain", how="left")
        frame["prev_hot_users"] = frame["prev_hot_users"].fillna(0)
        frame["prev_warm_users"] = frame["prev_warm_users"].fillna(0)
    else:
        for col in ("prev_pqa_score", "prev_tier", "prev_hot_users", "prev_warm_users"):
            frame[col] = None
    frame["prev_as_of"] = prev_as_of
    frame = frame.merge(wh.query(user_rollup_sql(as_of)), on="account_domain", how="left")
    frame = frame.merge(
        wh.query(recent_events_sql(src, settings, as_of)), on="account_domain", how="left"
    )
    for col in _COUNTS:
        frame[col] = pd.to_numeric(frame[col]).fillna(0)
    for col in ("prev_hot_users", "prev_warm_users", "prev_pqa_score"):
        frame[col] = pd.to_numeric(frame[col])

    order = tier_order or tier_order_for(
        model_version, [*frame["tier"].dropna(), *frame["prev_tier"].dropna()]
    )
    frame["tier_rank"] = _rank(frame["tier"], order)
    frame["prev_tier_rank"] = _rank(frame["prev_tier"], order)
    improved = frame["tier_rank"] < frame["prev_tier_rank"]
    frame["tier_improved"] = improved.where(frame["prev_tier_rank"].notna(), None)
    frame["is_customer"] = _is_customer(wh, frame, settings)
    stamp = pd.Timestamp(as_of)
    first = pd.to_datetime(frame["first_signup_at"])
    frame["account_age_days"] = np.floor((stamp - first).dt.total_seconds() / 86400)
    for col, src_col in _SINCE.items():
        at = pd.to_datetime(frame[src_col])
        frame[col] = ((stamp - at).dt.total_seconds() / 86400).round(3)
    return frame.reset_index(drop=True)
