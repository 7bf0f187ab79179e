"""Per-user and per-account features as of a point in time, computed inside the warehouse.

The SQL is written once (DuckDB dialect) from the source mapping and transpiled by the
warehouse module. Point in time: only users who signed up before `as_of` and events that
occurred before `as_of` reach a feature. Results land in `user_features` and
`account_features`, one slice per as_of, replaced on rerun.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from handoff.config.source import EVENT_FAMILIES, SourceConfig
from handoff.warehouse import Warehouse, ident, literal, naive_utc

log = logging.getLogger(__name__)

USER_FEATURES_TABLE = "user_features"
ACCOUNT_FEATURES_TABLE = "account_features"

# name -> description; the catalog RevOps can use in a model's conditions.
USER_FEATURES: dict[str, str] = {
    "user_id": "user id",
    "account_domain": "company domain (NULL for free-mail users)",
    "is_freemail": "signed up with a personal mail domain",
    "has_company_email": "signed up with a company domain",
    "title": "job title",
    "role": "product role (admin / member / viewer)",
    "department": "department",
    "is_executive": "title says VP or C-level (keywords in source.yaml)",
    "signed_up_at": "signup time",
    "days_since_signup": "days from signup to as_of",
    "activation_minutes": "minutes from signup to onboarding completed",
    "last_active_at": "time of the last event",
    "days_since_last_active": "days since the last event (NULL: never active)",
    "events_7d": "events in the last 7 days",
    "events_14d": "events in the last 14 days",
    "events_prev_14d": "events 15-28 days ago",
    "events_30d": "events in the last 30 days",
    "active_days_7d": "distinct active days in the last 7 days",
    "active_days_14d": "distinct active days in the last 14 days",
    "active_days_30d": "distinct active days in the last 30 days",
    "dau_mau": "active days in the last 30 / 30",
    "core_actions_7d": "core actions in the last 7 days",
    "core_actions_14d": "core actions in the last 14 days",
    "core_actions_30d": "core actions in the last 30 days",
    "core_actions_first_7d": "core actions in the first 7 days after signup",
    "last_core_action_at": "time of the last core action",
    "distinct_features_30d": "distinct features and core actions used in the last 30 days",
    "premium_features_30d": "distinct premium features used in the last 30 days",
    "premium_features_total": "distinct premium features used in the lookback",
    "last_premium_at": "time of the last premium feature use",
    "api_calls_30d": "API calls in the last 30 days",
    "last_api_call_at": "time of the last API call",
    "integrations_connected": "distinct integrations connected",
    "last_integration_at": "time of the last integration connected",
    "exports_30d": "data exports in the last 30 days",
    "last_export_at": "time of the last export",
    "invites_sent": "teammates invited in the lookback",
    "invites_sent_30d": "teammates invited in the last 30 days",
    "invites_accepted": "invites accepted in the lookback",
    "last_invite_at": "time of the last invite",
    "external_shares_30d": "content shared externally in the last 30 days",
    "last_share_at": "time of the last external share",
    "pricing_views_30d": "pricing page views in the last 30 days",
    "pricing_max_seconds_30d": "longest pricing page view in the last 30 days (seconds)",
    "last_pricing_view_at": "time of the last pricing page view",
    "upgrades_started_30d": "upgrade flows started in the last 30 days",
    "upgrades_abandoned_30d": "upgrade flows abandoned in the last 30 days",
    "upgrades_completed": "upgrades completed in the lookback",
    "last_upgrade_abandoned_at": "time of the last abandoned upgrade",
    "contact_sales_30d": "'contact sales' clicks in the last 30 days",
    "last_contact_sales_at": "time of the last 'contact sales' click",
    "enterprise_interest_30d": "enterprise feature interactions (SSO, SCIM, audit logs) in 30 days",
    "last_enterprise_interest_at": "time of the last enterprise feature interaction",
    "billing_contacts_30d": "billing / plan questions to support in the last 30 days",
    "last_billing_contact_at": "time of the last billing question",
    "support_tickets_30d": "support tickets in the last 30 days",
    "max_usage_ratio_30d": "highest plan usage / limit seen in the last 30 days",
    "last_limit_approach_at": "last time plan usage was at or above 80% of a limit",
    "limit_hits_30d": "plan usage records at or above 100% in the last 30 days",
    "workspaces_created": "workspaces created in the lookback",
    "setups_abandoned_30d": "setup flows abandoned in the last 30 days",
    "growth_weeks": "consecutive weeks of week-over-week event growth (up to 4)",
    "usage_declining": "events in the last 14 days below half of the 14 days before",
    "account_users_total": "users of the same company domain (1 for free-mail users)",
}

ACCOUNT_FEATURES: dict[str, str] = {
    "account_domain": "company domain (the account key)",
    "name": "company name",
    "plan": "current plan",
    "seat_limit": "seats in the plan",
    "users_total": "users signed up before as_of",
    "users_30d_ago": "users signed up before as_of - 30 days",
    "user_growth_30d": "growth of users over 30 days (0.5 = +50%)",
    "new_users_7d": "users who signed up in the last 7 days",
    "active_users_7d": "users active in the last 7 days",
    "active_users_30d": "users active in the last 30 days",
    "departments_total": "distinct departments among users",
    "departments_active_30d": "distinct departments among users active in 30 days",
    "executives_active_30d": "VP / C-level users active in 30 days",
    "workspaces_created": "workspaces created",
    "invites_sent": "teammates invited",
    "pricing_views_30d": "pricing page views in 30 days",
    "enterprise_interest_30d": "enterprise feature interactions in 30 days",
    "contact_sales_30d": "'contact sales' clicks in 30 days",
    "billing_contacts_30d": "billing questions in 30 days",
    "max_usage_ratio_30d": "highest plan usage / limit in 30 days",
    "last_limit_approach_at": "last time usage was at or above 80% of a limit",
    "seat_usage_ratio": "users / seat limit",
    "first_signup_at": "first user's signup",
    "last_active_at": "time of the last event",
    "days_since_last_active": "days since the last event",
    "events_14d": "events in the last 14 days",
    "events_prev_14d": "events 15-28 days ago",
    "wau_growth_weeks": "consecutive weeks of growth in weekly active users (up to 4)",
    "usage_declining": "account events in 14 days below half of the 14 days before",
    "last_executive_active_at": "last event by a VP / C-level user",
    "last_new_user_at": "last signup",
}


@dataclass(frozen=True)
class FeatureCounts:
    users: int
    accounts: int


def _in_list(values: list[str]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")" if values else "(NULL)"


def _days(as_of: str, col: str) -> str:
    return f"round(CAST(EXTRACT(EPOCH FROM ({as_of} - {col})) AS DOUBLE) / 86400.0, 3)"


BUCKET_DAYS = (7, 14, 21, 28, 30, 35)  # window edges the user features use


def _growth_weeks(w: list[str]) -> str:
    """Consecutive week-over-week increases over weekly counts (newest first), 0-4."""
    expr = "4"
    for i in range(3, -1, -1):
        expr = f"CASE WHEN {w[i]} > {w[i + 1]} THEN {expr} ELSE {i} END"
    return expr


DOMAIN_MAP_TABLE = "domain_map"  # email domain -> company domain, written by enrichment


def user_features_sql(src: SourceConfig, as_of: datetime, domain_map: bool = False) -> str:
    """SELECT of one row per user who signed up before as_of.

    With `domain_map`, email domains go through the enrichment's normalisation table
    (subdomains of one company become one account; free mail and junk become none).
    """
    as_of = naive_utc(as_of)
    u, e = src.users, src.events
    t = literal(as_of)

    def ago(days: int) -> str:
        return literal(as_of - timedelta(days=days))

    # families become small integers once per event: the filters below compare integers
    code = {family: i for i, family in enumerate(EVENT_FAMILIES)}
    family_rows = ", ".join(
        f"({literal(name)}, {code[family]})"
        for family, names in src.event_families.items()
        for name in names
    )
    exec_match = (
        " OR ".join(
            f"lower(us.{ident(u.title)}) LIKE {literal('%' + kw.lower() + '%')}"
            for kw in src.executive_title_keywords
        )
        or "FALSE"
    )
    premium = _in_list(src.premium_features)
    freemail = _in_list(src.freemail_domains)
    account_domain = (
        f"CASE WHEN usr.email_domain IN {freemail} OR usr.email_domain = '' "
        "THEN NULL ELSE usr.email_domain END"
    )
    map_join = ""
    if domain_map:
        account_domain = f"CASE WHEN dm.email_domain IS NOT NULL THEN dm.account_domain ELSE {account_domain} END"
        map_join = f"\nLEFT JOIN {DOMAIN_MAP_TABLE} AS dm ON dm.email_domain = usr.email_domain"

    # window buckets: b = how many of BUCKET_DAYS lie between the event and as_of, so
    # "in the last N days" (N in BUCKET_DAYS) is b <= BUCKET_DAYS.index(N)
    bucket = " + ".join(f"CAST(t < {ago(d)} AS INTEGER)" for d in BUCKET_DAYS)

    def w(days: int) -> str:
        return f"b <= {BUCKET_DAYS.index(days)}"

    def c(family: str, days: int | None = None) -> str:
        cond = f"fam = {code[family]}"
        return f"{cond} AND {w(days)}" if days else cond

    def n(cond: str) -> str:
        return f"CAST(coalesce(sum(n) FILTER (WHERE {cond}), 0) AS BIGINT)"

    return f"""
SELECT *,
    CASE WHEN account_domain IS NULL THEN 1
         ELSE count(*) OVER (PARTITION BY account_domain) END AS account_users_total
FROM (
WITH us AS (
    SELECT * FROM {ident(u.table)} WHERE {ident(u.created_at)} < {t}
),
usr AS (
    SELECT
        CAST(us.{ident(u.user_id)} AS VARCHAR) AS user_id,
        lower(trim(split_part(us.{ident(u.email)}, '@', 2))) AS email_domain,
        us.{ident(u.title)} AS title,
        us.{ident(u.role)} AS role,
        us.{ident(u.department)} AS department,
        ({exec_match}) AS is_executive,
        us.{ident(u.created_at)} AS signed_up_at
    FROM us
),
ev AS (
    SELECT * FROM {ident(e.table)} AS ev
    WHERE ev.{ident(e.occurred_at)} < {t} AND ev.{ident(e.occurred_at)} >= {ago(src.lookback_days)}
),
evt AS MATERIALIZED (
    SELECT
        CAST(ev.{ident(e.user_id)} AS VARCHAR) AS user_id,
        ev.{ident(e.occurred_at)} AS t,
        CAST(ev.{ident(e.occurred_at)} AS DATE) AS d,
        ev.{ident(e.name)} AS event_name,
        ev.{ident(e.feature)} AS feature,
        CAST(ev.{ident(e.value)} AS DOUBLE) AS value,
        fam.code AS fam
    FROM ev
    LEFT JOIN (VALUES {family_rows}) AS fam (name, code) ON fam.name = ev.{ident(e.name)}
),
-- one row per user and active day, and per user and feature used: the distinct counts
-- below run over these small tables instead of over every event
active_days AS (
    SELECT user_id, max(t) AS t FROM evt GROUP BY user_id, d
),
used AS (
    SELECT user_id, fam, feature, event_name, max(t) AS t
    FROM evt
    WHERE fam IN ({code["feature_used"]}, {code["core_action"]}, {code["integration_connected"]})
    GROUP BY user_id, fam, feature, event_name
),
distinct_agg AS (
    SELECT
        user_id,
        count(DISTINCT coalesce(feature, event_name)) FILTER (
            WHERE fam IN ({code["feature_used"]}, {code["core_action"]}) AND t >= {ago(30)}
        ) AS distinct_features_30d,
        count(DISTINCT feature) FILTER (
            WHERE {c("feature_used")} AND t >= {ago(30)} AND feature IN {premium}
        ) AS premium_features_30d,
        count(DISTINCT feature) FILTER (
            WHERE {c("feature_used")} AND feature IN {premium}
        ) AS premium_features_total,
        max(t) FILTER (WHERE {c("feature_used")} AND feature IN {premium}) AS last_premium_at,
        count(DISTINCT feature) FILTER (WHERE {c("integration_connected")})
            AS integrations_connected,
        max(t) FILTER (WHERE {c("integration_connected")}) AS last_integration_at
    FROM used
    GROUP BY user_id
),
days_agg AS (
    SELECT
        user_id,
        count(*) FILTER (WHERE t >= {ago(7)}) AS active_days_7d,
        count(*) FILTER (WHERE t >= {ago(14)}) AS active_days_14d,
        count(*) FILTER (WHERE t >= {ago(30)}) AS active_days_30d
    FROM active_days
    GROUP BY user_id
),
-- events rolled up per user, family and window bucket before the wide aggregation
buckets AS (
    SELECT
        user_id, fam, b,
        count(*) AS n, max(t) AS last_t, min(t) AS first_t,
        sum(coalesce(value, 1)) AS sv, max(value) AS mv,
        max(t) FILTER (WHERE value >= 0.8) AS last_t80,
        count(*) FILTER (WHERE value >= 1.0) AS n100
    FROM (SELECT *, {bucket} AS b FROM evt) AS e
    GROUP BY user_id, fam, b
),
agg AS (
    SELECT
        user_id,
        max(last_t) AS last_active_at,
        {n(w(7))} AS events_7d,
        {n(w(14))} AS events_14d,
        {n(w(28) + " AND b > " + str(BUCKET_DAYS.index(14)))} AS events_prev_14d,
        {n(w(30))} AS events_30d,
        min(first_t) FILTER (WHERE {c("onboarding_completed")}) AS onboarded_at,
        {n(c("core_action", 7))} AS core_actions_7d,
        {n(c("core_action", 14))} AS core_actions_14d,
        {n(c("core_action", 30))} AS core_actions_30d,
        max(last_t) FILTER (WHERE {c("core_action")}) AS last_core_action_at,
        coalesce(sum(sv) FILTER (WHERE {c("api_call", 30)}), 0) AS api_calls_30d,
        max(last_t) FILTER (WHERE {c("api_call")}) AS last_api_call_at,
        {n(c("export", 30))} AS exports_30d,
        max(last_t) FILTER (WHERE {c("export")}) AS last_export_at,
        {n(c("invite_sent"))} AS invites_sent,
        {n(c("invite_sent", 30))} AS invites_sent_30d,
        {n(c("invite_accepted"))} AS invites_accepted,
        max(last_t) FILTER (WHERE {c("invite_sent")}) AS last_invite_at,
        {n(c("content_shared_external", 30))} AS external_shares_30d,
        max(last_t) FILTER (WHERE {c("content_shared_external")}) AS last_share_at,
        {n(c("pricing_page_view", 30))} AS pricing_views_30d,
        coalesce(max(mv) FILTER (WHERE {c("pricing_page_view", 30)}), 0)
            AS pricing_max_seconds_30d,
        max(last_t) FILTER (WHERE {c("pricing_page_view")}) AS last_pricing_view_at,
        {n(c("upgrade_started", 30))} AS upgrades_started_30d,
        {n(c("upgrade_abandoned", 30))} AS upgrades_abandoned_30d,
        {n(c("upgrade_completed"))} AS upgrades_completed,
        max(last_t) FILTER (WHERE {c("upgrade_abandoned")}) AS last_upgrade_abandoned_at,
        {n(c("contact_sales", 30))} AS contact_sales_30d,
        max(last_t) FILTER (WHERE {c("contact_sales")}) AS last_contact_sales_at,
        {n(c("enterprise_feature_interest", 30))} AS enterprise_interest_30d,
        max(last_t) FILTER (WHERE {c("enterprise_feature_interest")})
            AS last_enterprise_interest_at,
        {n(c("billing_contact", 30))} AS billing_contacts_30d,
        max(last_t) FILTER (WHERE {c("billing_contact")}) AS last_billing_contact_at,
        {n(c("support_contact", 30))} AS support_tickets_30d,
        coalesce(max(mv) FILTER (WHERE {c("plan_usage", 30)}), 0) AS max_usage_ratio_30d,
        max(last_t80) FILTER (WHERE {c("plan_usage")}) AS last_limit_approach_at,
        CAST(coalesce(sum(n100) FILTER (WHERE {c("plan_usage", 30)}), 0) AS BIGINT)
            AS limit_hits_30d,
        {n(c("workspace_created"))} AS workspaces_created,
        {n(c("setup_abandoned", 30))} AS setups_abandoned_30d,
        {n("b = 0")} AS wk0,
        {n("b = 1")} AS wk1,
        {n("b = 2")} AS wk2,
        {n("b = 3")} AS wk3,
        {n("b IN (4, 5)")} AS wk4
    FROM buckets
    GROUP BY user_id
)
SELECT
    {t} AS as_of,
    usr.user_id,
    {account_domain} AS account_domain,
    (usr.email_domain IN {_in_list(src.freemail_domains)}) AS is_freemail,
    NOT (usr.email_domain IN {_in_list(src.freemail_domains)}) AS has_company_email,
    usr.title, usr.role, usr.department, coalesce(usr.is_executive, FALSE) AS is_executive,
    usr.signed_up_at,
    {_days(t, "usr.signed_up_at")} AS days_since_signup,
    round(CAST(EXTRACT(EPOCH FROM (agg.onboarded_at - usr.signed_up_at)) AS DOUBLE) / 60.0, 1)
        AS activation_minutes,
    agg.last_active_at,
    {_days(t, "agg.last_active_at")} AS days_since_last_active,
    coalesce(agg.events_7d, 0) AS events_7d,
    coalesce(agg.events_14d, 0) AS events_14d,
    coalesce(agg.events_prev_14d, 0) AS events_prev_14d,
    coalesce(agg.events_30d, 0) AS events_30d,
    coalesce(da.active_days_7d, 0) AS active_days_7d,
    coalesce(da.active_days_14d, 0) AS active_days_14d,
    coalesce(da.active_days_30d, 0) AS active_days_30d,
    round(CAST(coalesce(da.active_days_30d, 0) AS DOUBLE) / 30.0, 3) AS dau_mau,
    coalesce(agg.core_actions_7d, 0) AS core_actions_7d,
    coalesce(agg.core_actions_14d, 0) AS core_actions_14d,
    coalesce(agg.core_actions_30d, 0) AS core_actions_30d,
    coalesce(fw.core_actions_first_7d, 0) AS core_actions_first_7d,
    agg.last_core_action_at,
    coalesce(dg.distinct_features_30d, 0) AS distinct_features_30d,
    coalesce(dg.premium_features_30d, 0) AS premium_features_30d,
    coalesce(dg.premium_features_total, 0) AS premium_features_total,
    dg.last_premium_at,
    CAST(coalesce(agg.api_calls_30d, 0) AS DOUBLE) AS api_calls_30d,
    agg.last_api_call_at,
    coalesce(dg.integrations_connected, 0) AS integrations_connected,
    dg.last_integration_at,
    coalesce(agg.exports_30d, 0) AS exports_30d,
    agg.last_export_at,
    coalesce(agg.invites_sent, 0) AS invites_sent,
    coalesce(agg.invites_sent_30d, 0) AS invites_sent_30d,
    coalesce(agg.invites_accepted, 0) AS invites_accepted,
    agg.last_invite_at,
    coalesce(agg.external_shares_30d, 0) AS external_shares_30d,
    agg.last_share_at,
    coalesce(agg.pricing_views_30d, 0) AS pricing_views_30d,
    CAST(coalesce(agg.pricing_max_seconds_30d, 0) AS DOUBLE) AS pricing_max_seconds_30d,
    agg.last_pricing_view_at,
    coalesce(agg.upgrades_started_30d, 0) AS upgrades_started_30d,
    coalesce(agg.upgrades_abandoned_30d, 0) AS upgrades_abandoned_30d,
    coalesce(agg.upgrades_completed, 0) AS upgrades_completed,
    agg.last_upgrade_abandoned_at,
    coalesce(agg.contact_sales_30d, 0) AS contact_sales_30d,
    agg.last_contact_sales_at,
    coalesce(agg.enterprise_interest_30d, 0) AS enterprise_interest_30d,
    agg.last_enterprise_interest_at,
    coalesce(agg.billing_contacts_30d, 0) AS billing_contacts_30d,
    agg.last_billing_contact_at,
    coalesce(agg.support_tickets_30d, 0) AS support_tickets_30d,
    round(CAST(coalesce(agg.max_usage_ratio_30d, 0) AS DOUBLE), 4) AS max_usage_ratio_30d,
    agg.last_limit_approach_at,
    coalesce(agg.limit_hits_30d, 0) AS limit_hits_30d,
    coalesce(agg.workspaces_created, 0) AS workspaces_created,
    coalesce(agg.setups_abandoned_30d, 0) AS setups_abandoned_30d,
    coalesce(agg.wk0, 0) AS wk0, coalesce(agg.wk1, 0) AS wk1, coalesce(agg.wk2, 0) AS wk2,
    coalesce(agg.wk3, 0) AS wk3, coalesce(agg.wk4, 0) AS wk4,
    {_growth_weeks([f"coalesce(agg.wk{i}, 0)" for i in range(5)])} AS growth_weeks,
    (coalesce(agg.events_prev_14d, 0) >= 5
        AND coalesce(agg.events_14d, 0) * 2 < coalesce(agg.events_prev_14d, 0)) AS usage_declining
FROM usr{map_join}
LEFT JOIN agg ON agg.user_id = usr.user_id
LEFT JOIN days_agg AS da ON da.user_id = usr.user_id
LEFT JOIN distinct_agg AS dg ON dg.user_id = usr.user_id
LEFT JOIN (
    SELECT evt.user_id, count(*) AS core_actions_first_7d
    FROM evt JOIN usr ON usr.user_id = evt.user_id
    WHERE evt.fam = {code["core_action"]} AND evt.t < usr.signed_up_at + INTERVAL 7 DAY
    GROUP BY evt.user_id
) AS fw ON fw.user_id = usr.user_id
) AS per_user
"""


FIRMOGRAPHICS_TABLE = "firmographics"  # written by enrichment (handoff.enrich)
_NOT_FIRMOGRAPHIC = {"domain", "name", "status", "detail", "source", "fetched_at"}


def account_features_sql(
    src: SourceConfig, as_of: datetime, enriched: list[str] | None = None
) -> str:
    """SELECT of one row per company domain, from the user_features slice of as_of.

    `enriched` lists the columns of the enrichment table (`firmographics`) when it exists:
    the product's own firmographic columns win, enrichment fills their gaps and adds the
    columns the product lacks (country, revenue, ...).
    """
    as_of = naive_utc(as_of)
    a = src.accounts
    t = literal(as_of)

    def ago(days: int) -> str:
        return literal(as_of - timedelta(days=days))

    extra = [c for c in (enriched or []) if c not in _NOT_FIRMOGRAPHIC]
    firmo = "".join(
        f",\n    coalesce(acc.{ident(col)}, fg.{ident(name)}) AS {ident(name)}"
        if name in extra
        else f",\n    acc.{ident(col)} AS {ident(name)}"
        for name, col in a.firmographics.items()
    )
    firmo += "".join(
        f",\n    fg.{ident(c)} AS {ident(c)}" for c in extra if c not in a.firmographics
    )
    name_expr = f"coalesce(acc.{ident(a.name)}, agg.account_domain)"
    enrich_join = ""
    if enriched is not None:
        name_expr = f"coalesce(acc.{ident(a.name)}, fg.name, agg.account_domain)"
        enrich_join = (
            f"\nLEFT JOIN {FIRMOGRAPHICS_TABLE} AS fg"
            " ON fg.domain = agg.account_domain AND fg.status = 'found'"
        )
    return f"""
WITH uf AS (
    SELECT * FROM {USER_FEATURES_TABLE}
    WHERE as_of = {t} AND account_domain IS NOT NULL
),
agg AS (
    SELECT
        account_domain,
        count(*) AS users_total,
        count(*) FILTER (WHERE signed_up_at < {ago(30)}) AS users_30d_ago,
        count(*) FILTER (WHERE signed_up_at >= {ago(7)}) AS new_users_7d,
        count(*) FILTER (WHERE active_days_7d > 0) AS active_users_7d,
        count(*) FILTER (WHERE active_days_30d > 0) AS active_users_30d,
        count(DISTINCT department) AS departments_total,
        count(DISTINCT department) FILTER (WHERE active_days_30d > 0) AS departments_active_30d,
        count(*) FILTER (WHERE is_executive AND active_days_30d > 0) AS executives_active_30d,
        max(last_active_at) FILTER (WHERE is_executive) AS last_executive_active_at,
        CAST(sum(workspaces_created) AS BIGINT) AS workspaces_created,
        CAST(sum(invites_sent) AS BIGINT) AS invites_sent,
        CAST(sum(pricing_views_30d) AS BIGINT) AS pricing_views_30d,
        CAST(sum(enterprise_interest_30d) AS BIGINT) AS enterprise_interest_30d,
        CAST(sum(contact_sales_30d) AS BIGINT) AS contact_sales_30d,
        CAST(sum(billing_contacts_30d) AS BIGINT) AS billing_contacts_30d,
        max(max_usage_ratio_30d) AS max_usage_ratio_30d,
        max(last_limit_approach_at) AS last_limit_approach_at,
        min(signed_up_at) AS first_signup_at,
        max(signed_up_at) AS last_new_user_at,
        max(last_active_at) AS last_active_at,
        CAST(sum(events_14d) AS BIGINT) AS events_14d,
        CAST(sum(events_prev_14d) AS BIGINT) AS events_prev_14d,
        count(*) FILTER (WHERE wk0 > 0) AS wau0,
        count(*) FILTER (WHERE wk1 > 0) AS wau1,
        count(*) FILTER (WHERE wk2 > 0) AS wau2,
        count(*) FILTER (WHERE wk3 > 0) AS wau3,
        count(*) FILTER (WHERE wk4 > 0) AS wau4
    FROM uf
    GROUP BY account_domain
)
SELECT
    {t} AS as_of,
    agg.account_domain,
    {name_expr} AS name,
    acc.{ident(a.plan)} AS plan,
    acc.{ident(a.seat_limit)} AS seat_limit{firmo},
    agg.users_total,
    agg.users_30d_ago,
    round(CAST(agg.users_total - agg.users_30d_ago AS DOUBLE)
        / CAST(greatest(agg.users_30d_ago, 1) AS DOUBLE), 3) AS user_growth_30d,
    agg.new_users_7d,
    agg.active_users_7d,
    agg.active_users_30d,
    agg.departments_total,
    agg.departments_active_30d,
    agg.executives_active_30d,
    agg.last_executive_active_at,
    agg.workspaces_created,
    agg.invites_sent,
    agg.pricing_views_30d,
    agg.enterprise_interest_30d,
    agg.contact_sales_30d,
    agg.billing_contacts_30d,
    agg.max_usage_ratio_30d,
    agg.last_limit_approach_at,
    round(CAST(agg.users_total AS DOUBLE) / CAST(nullif(acc.{ident(a.seat_limit)}, 0) AS DOUBLE), 3)
        AS seat_usage_ratio,
    agg.first_signup_at,
    agg.last_new_user_at,
    agg.last_active_at,
    {_days(t, "agg.last_active_at")} AS days_since_last_active,
    agg.events_14d,
    agg.events_prev_14d,
    {_growth_weeks([f"agg.wau{i}" for i in range(5)])} AS wau_growth_weeks,
    (agg.events_prev_14d >= 10 AND agg.events_14d * 2 < agg.events_prev_14d) AS usage_declining
FROM agg
LEFT JOIN {ident(a.table)} AS acc ON lower(acc.{ident(a.domain)}) = agg.account_domain{enrich_join}
"""


def extract_features(wh: Warehouse, src: SourceConfig, as_of: datetime) -> FeatureCounts:
    """Compute and store the user and account feature slices for `as_of` (replacing any)."""
    as_of = naive_utc(as_of)
    n_users = wh.replace_select(
        USER_FEATURES_TABLE,
        user_features_sql(src, as_of, domain_map=wh.has_table(DOMAIN_MAP_TABLE)),
        {"as_of": as_of},
    )
    enriched = wh.columns(FIRMOGRAPHICS_TABLE) if wh.has_table(FIRMOGRAPHICS_TABLE) else None
    n_accounts = wh.replace_select(
        ACCOUNT_FEATURES_TABLE, account_features_sql(src, as_of, enriched), {"as_of": as_of}
    )
    log.info("features as of %s: %d users, %d accounts", as_of, n_users, n_accounts)
    return FeatureCounts(users=n_users, accounts=n_accounts)
