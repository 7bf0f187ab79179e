"""Context package: facts from one SQL query, the package and its text for fixed inputs,
talking point choice and rendering, template errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from handoff.config import load_source
from handoff.context import assemble_package, load_talking_points, render_text
from handoff.context.facts import collect_facts, display_name, facts_sql, query_facts
from handoff.errors import ConfigError
from handoff.warehouse import Warehouse

AS_OF = datetime(2026, 11, 1)


def _t(days: float, hour: int = 10) -> datetime:
    return AS_OF - timedelta(days=days) + timedelta(hours=hour - 24)


@pytest.fixture
def wh() -> Warehouse:
    w = Warehouse(":memory:")
    users = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4", "x1"],
            "email": [
                "ada.lovelace@acme.io",
                "bo.chen2@ACME.io",
                "cy.vp@acme.io",
                "late@acme.io",
                "zed@other.io",
            ],
            "title": ["Data Analyst", "Engineer", "VP Engineering", "Designer", "CEO"],
            "role": ["admin", "member", "viewer", "member", "admin"],
            "department": ["Data", "Engineering", "Engineering", "Design", "Sales"],
            "created_at": [_t(60), _t(40), _t(20), AS_OF + timedelta(days=1), _t(50)],
        }
    )
    ev = []

    def add(uid: str, name: str, when: datetime, feature: str | None = None, value=None) -> None:
        ev.append((uid, name, when, feature, value))

    for d in range(1, 21):  # ada runs reports 20 days of the last 30, 13 of the last 14
        add("u1", "report_run", _t(d))
        add("u1", "session_started", _t(d, 9))
    for d in (2, 9, 16, 23):  # weekly
        add("u2", "feature_used", _t(d), "advanced_analytics")
    add("u2", "feature_used", _t(3), "comments")  # once
    add("u2", "project_created", _t(5))
    add("u1", "integration_connected", _t(50), "salesforce")
    add("u2", "setup_abandoned", _t(4), "snowflake")
    add("u2", "setup_abandoned", _t(6), "salesforce")  # later connected by ada? no: before
    add("u1", "support_ticket_opened", _t(3), "competitor_comparison")
    add("u2", "support_ticket_opened", _t(8), "bug")
    add("u2", "support_ticket_opened", _t(40), "bug")  # older than 30 days
    add("u3", "enterprise_feature_viewed", _t(2), "sso")
    add("u3", "session_started", _t(1, 15))  # the most recent session
    add("u3", "dashboard_edited", _t(1, 16))
    add("u3", "pricing_viewed", _t(2), None, 240.0)
    add("u1", "plan_usage_recorded", _t(2), "projects", 0.92)
    add("u1", "plan_usage_recorded", _t(5), "seats", 0.5)
    add("u1", "teammate_invited", _t(20))
    add("u1", "onboarding_completed", _t(59))
    add("x1", "report_run", _t(1))  # another account: never read
    add("u1", "report_run", AS_OF + timedelta(hours=1))  # after as_of: never read
    events = pd.DataFrame(ev, columns=["user_id", "event_name", "occurred_at", "feature", "value"])
    w.load_df("users", users)
    w.load_df("events", events)
    yield w
    w.close()


def test_facts_from_one_query(wh: Warehouse) -> None:
    src = load_source()
    sql = facts_sql(src, ["acme.io"], AS_OF)
    assert "GROUP BY ALL" not in sql.upper()
    long = query_facts(wh, src, ["acme.io"], AS_OF)
    assert set(long["account_domain"]) == {"acme.io"}
    f = collect_facts(long, executive_keywords=tuple(src.executive_title_keywords))["acme.io"]
    assert f["users_total"] == 3 and f["active_users_30d"] == 3
    assert f["roles"] == {"admin": 1, "member": 1, "viewer": 1}
    assert f["departments_active"] == ["Data", "Engineering"]
    assert [(x["feature"], x["frequency"]) for x in f["features"]] == [
        ("report_run", "daily"), ("advanced_analytics", "weekly"), ("comments", "once"),
        ("dashboard_edited", "once"), ("project_created", "once"),
    ]  # fmt: skip
    assert f["core_workflows_14d"] == {
        "total": 15, "by_action": {"report_run": 13, "dashboard_edited": 1, "project_created": 1}
    }  # fmt: skip
    assert f["integrations"] == [{"name": "salesforce", "connected_at": "2026-09-11 10:00"}]
    assert [s["name"] for s in f["abandoned_setups"]] == ["snowflake"]  # salesforce is connected
    assert f["support_tickets_30d"] == {
        "total": 2, "by_topic": {"bug": 1, "competitor_comparison": 1}}  # fmt: skip
    assert f["competitor_mentions"] == 1
    assert f["enterprise_features_30d"] == ["sso"]
    assert f["usage_limit"] == {"metric": "projects", "ratio": 0.92, "at": "2026-10-29 10:00"}
    assert f["pricing_views_30d"] == 1 and f["pricing_max_seconds_30d"] == 240.0
    assert f["last_session"] == {"at": "2026-10-30 15:00", "duration_minutes": 60, "user": "Cy Vp"}
    assert f["first_activation_at"] == "2026-09-02 10:00"
    assert [e["title"] for e in f["executives_active"]] == ["VP Engineering"]
    assert f["users"][0]["name"] == "Ada Lovelace"
    assert display_name("bo.chen2@ACME.io") == "Bo Chen"
    assert (f["events_14d"], f["invites_30d"]) == (40, 1)
    assert query_facts(wh, src, [], AS_OF).empty


TP_YAML = """
context:
  adjacent_departments: {Data: [Finance, Engineering]}
  advanced_plans: [business]
talking_points:
  - id: usage_limit_approached
    label: Usage limit approached
    match: {triggers: ["*limit*"], reasons: [usage_limit_hit]}
    opening: >-
      I saw your team has been using {{ usage.top_feature | humanize }} heavily - you are at
      {{ usage.usage_limit.ratio | pct }} of the {{ usage.usage_limit.metric }} limit.
    discovery:
      - Is this primarily {{ usage.champion.name }}'s workflow right now?
  - id: enterprise_feature_interaction
    label: Enterprise feature interaction
    match: {reasons: [enterprise_features_requested]}
    opening: You have been looking at our {{ usage.enterprise_features_30d | map("humanize") | list | join_words }} settings.
  - id: pricing_interest
    label: Pricing interest
    match: {triggers: ["*pricing*"], reasons: ["pricing_viewed*"]}
    opening: Weighing plans ({{ usage.pricing_views_30d }} visits)?
  - id: active_usage
    label: Active usage
    match: {fallback: true}
    opening: Your team at {{ account.name }} has been active.
"""


def _talking(tmp_path: Path, text: str = TP_YAML):
    path = tmp_path / "talking_points.yaml"
    path.write_text(text)
    return load_talking_points(path)


DECISION = {
    "account_domain": "acme.io", "decision": "routed", "segment": "mid_market",
    "motion": "inside_sales", "acv_band": "digital_cs", "owner_role": "SDR",
    "owner_name": "Ann Lee", "owner_email": "ann@example.com", "region": "NA",
    "trigger_id": "usage_limit_approached", "trigger_class": "high_signal",
    "trigger_fired_at": pd.Timestamp("2026-10-31 22:00"), "episode_id": "acme.io#1",
    "sla_due_at": pd.Timestamp("2026-11-01 22:00"), "expected_acv_low": 7200.0,
    "expected_acv_high": 19200.0, "size_band": "mid_market", "reason": "mid_market / inside_sales",
}  # fmt: skip
ACCOUNT = {"name": "Acme", "employees": 120, "industry": "SaaS", "country": "US",
           "plan": "team", "seat_limit": 10, "icp_match": True, "fit_tier": "A"}  # fmt: skip
SCORE = {
    "score": 142.5, "tier": "tier_2", "tier_label": "Tier 2: Mid-Market",
    "breakdown": {"feature_usage": 60.0, "intent": 50.5, "collaboration": 32.0},
    "reasons": [
        {"signal": "usage_limit_hit", "label": "Hit usage/storage limit", "category": "feature_usage",
         "points": 20.0, "value": 0.92, "at": "2026-10-30T10:00:00"},
        {"signal": "enterprise_features_requested", "label": "Requested enterprise features (SSO, etc.)",
         "category": "intent", "points": 30.0, "value": 1, "at": "2026-10-30T10:00:00", "user_id": "u3"},
    ],
}  # fmt: skip
FACTS = {
    "users_total": 3, "active_users_30d": 2, "roles": {"admin": 1, "member": 1},
    "departments_active": ["Data", "Engineering"], "departments_all": ["Data", "Design", "Engineering"],
    "users": [
        {"user_id": "u1", "name": "Ada Lovelace", "email": "ada@acme.io", "title": "Data Analyst",
         "role": "admin", "department": "Data", "events_30d": 40, "active_days_30d": 20,
         "last_active_at": "2026-10-31 10:00"},
        {"user_id": "u2", "name": "Bo Chen", "email": "bo@acme.io", "title": "Engineer",
         "role": "member", "department": "Engineering", "events_30d": 6, "active_days_30d": 5,
         "last_active_at": "2026-10-30 10:00"},
    ],
    "executives_active": [],
    "features": [
        {"feature": "report_run", "uses_30d": 20, "days_30d": 20, "frequency": "daily", "last_used_at": None},
        {"feature": "advanced_analytics", "uses_30d": 4, "days_30d": 4, "frequency": "weekly", "last_used_at": None},
    ],
    "core_workflows_14d": {"total": 14, "by_action": {"report_run": 14}},
    "integrations": [{"name": "salesforce", "connected_at": "2026-09-01 10:00"}],
    "abandoned_setups": [{"name": "snowflake", "attempts_30d": 1, "last_at": "2026-10-28 10:00"}],
    "support_tickets_30d": {"total": 2, "by_topic": {"bug": 1, "competitor_comparison": 1}},
    "competitor_mentions": 1, "enterprise_features_30d": ["sso", "audit_logs"],
    "usage_limit": {"metric": "projects", "ratio": 0.92, "at": "2026-10-30 10:00"},
    "pricing_views_30d": 1, "pricing_max_seconds_30d": 240.0, "invites_30d": 1,
    "last_invite_at": "2026-10-12 10:00", "first_activation_at": "2026-09-03 10:00",
    "events_14d": 30, "events_prev_14d": 20,
    "last_session": {"at": "2026-10-31 15:00", "duration_minutes": 60, "user": "Ada Lovelace"},
}  # fmt: skip

EXPECTED_TEXT = """\
Acme (acme.io) - routed to Ann Lee (SDR), SLA due 2026-11-01 22:00 UTC

ACCOUNT SNAPSHOT
  Company: Acme (acme.io), 120 employees (mid market), SaaS, US
  Fit: ICP match yes, fit tier A; Tier 2: Mid-Market; plan team (10 seats)
  Owner: Ann Lee <ann@example.com> (SDR, NA)
  First activation: 2026-09-03 10:00 (58 days ago)

PRODUCT USAGE (last 30 days)
  Active users: 2 of 3 (admin 1, member 1)
  Active departments: Data, Engineering
    - Ada Lovelace, Data Analyst (admin, Data): 20 active days, last 2026-10-31 10:00
    - Bo Chen, Engineer (member, Engineering): 5 active days, last 2026-10-30 10:00
  Features: report run (daily), advanced analytics (weekly)
  Core workflows, last 14 days: 14 (report run 14)
  Integrations: salesforce
  Most recent session: 2026-10-31 15:00 UTC, 60 min (Ada Lovelace)
  Trend: growing (30 events in the last 14 days vs 20 in the 14 before)

SCORE AND TRIGGER
  PQA score 142.5 (Tier 2: Mid-Market): feature usage 60, intent 50.5, collaboration 32
    - Hit usage/storage limit (+20, value 0.92, at 2026-10-30 10:00)
    - Requested enterprise features (SSO, etc.) (+30, value 1, at 2026-10-30 10:00)
  Trigger: usage limit approached (high_signal) at 2026-10-31 22:00 UTC
  Routing: mid market / inside sales -> SDR Ann Lee, SLA due 2026-11-01 22:00 UTC

EXPANSION ANGLE
  Hypothesis: upgrade to advanced tier (looked at SSO, audit logs in the last 30 days)
  Estimated ACV: $7,200 - $19,200
  Adjacent teams: Design, Finance

KNOWN FRICTION
  Support tickets (30 days): 2 (bug 1, competitor comparison 1)
  Abandoned setups: snowflake
  Competitor mentions: 1

TALKING POINTS
  1. Usage limit approached
     Opening: "I saw your team has been using report run heavily - you are at 92% of the projects limit."
     Ask: "Is this primarily Ada Lovelace's workflow right now?"
  2. Enterprise feature interaction
     Opening: "You have been looking at our SSO and audit logs settings."
"""


def test_package_and_text_for_fixed_inputs(tmp_path: Path) -> None:
    talking = _talking(tmp_path)
    pkg = assemble_package(AS_OF, DECISION, ACCOUNT, SCORE, FACTS, talking, {"advanced_analytics"})
    assert json.loads(json.dumps(pkg)) == pkg  # JSON-ready
    assert set(pkg) == {"as_of", "account", "usage", "score", "trigger", "routing", "expansion",
                        "friction", "talking_points"}  # fmt: skip
    assert pkg["account"]["days_since_activation"] == 58
    assert pkg["usage"]["trend"] == "growing"
    assert pkg["expansion"]["adjacent_teams"] == ["Design", "Finance"]
    assert pkg["trigger"]["fired_at"] == "2026-10-31 22:00"
    assert [tp["id"] for tp in pkg["talking_points"]] == [
        "usage_limit_approached", "enterprise_feature_interaction"]  # fmt: skip
    assert render_text(pkg) == EXPECTED_TEXT


def test_expansion_hypotheses_follow_the_facts(tmp_path: Path) -> None:
    talking = _talking(tmp_path)

    def angle(**facts: object) -> tuple[str, str]:
        pkg = assemble_package(AS_OF, DECISION, ACCOUNT, SCORE, {**FACTS, **facts}, talking)
        return pkg["expansion"]["hypothesis"], pkg["expansion"]["why"]

    assert angle(enterprise_features_30d=[], users_total=9) == ("more seats", "9 of 10 seats taken")
    assert angle(enterprise_features_30d=[], users_total=3) == (
        "cross-team rollout",
        "already active in 2 departments (Data, Engineering)",
    )
    premium = assemble_package(AS_OF, DECISION, ACCOUNT, SCORE,
                               {**FACTS, "enterprise_features_30d": []}, talking,
                               {"advanced_analytics"})  # fmt: skip
    assert (
        premium["expansion"]["why"] == "uses premium features (advanced_analytics) on the team plan"
    )


def test_talking_points_follow_trigger_then_reasons_then_fallback(tmp_path: Path) -> None:
    talking = _talking(tmp_path)
    pick = lambda t, c, r: [tp.id for _, tp in talking.choose(t, c, r)]  # noqa: E731
    assert pick("pricing_page_visit", None, ["usage_limit_hit"]) == [
        "pricing_interest", "usage_limit_approached"]  # fmt: skip
    assert pick("x", "usage_limit_class", []) == ["usage_limit_approached"]
    assert pick("x", None, ["pricing_viewed_3plus", "enterprise_features_requested"]) == [
        "pricing_interest", "enterprise_feature_interaction"]  # fmt: skip
    assert pick("nothing", None, ["feature_breadth"]) == ["active_usage"]


def test_template_error_names_file_and_talking_point(tmp_path: Path) -> None:
    talking = _talking(tmp_path, TP_YAML.replace("usage.pricing_views_30d", "usage.pricing_vews"))
    dec = {**DECISION, "trigger_id": "pricing_page_visit"}
    with pytest.raises(ConfigError) as err:
        assemble_package(AS_OF, dec, ACCOUNT, SCORE, FACTS, talking)
    msg = str(err.value)
    assert str(tmp_path / "talking_points.yaml") in msg
    assert "talking_points[2].opening: talking point 'pricing_interest' failed to render" in msg
    assert "pricing_vews" in msg


def test_template_syntax_error_is_reported_on_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _talking(tmp_path, TP_YAML.replace("Weighing plans (", "Weighing plans {% if %}("))
    msg = str(err.value)
    assert str(tmp_path / "talking_points.yaml") in msg
    assert (
        "talking_points[2].opening: template syntax error in talking point 'pricing_interest'"
        in msg
    )


def test_default_talking_points_render_for_every_signal() -> None:
    talking = load_talking_points()
    ids = [tp.id for tp in talking.config.talking_points]
    assert {"usage_limit_approached", "teammate_invited", "integration_connected",
            "enterprise_feature_interaction", "pricing_interest",
            "executive_activation"} <= set(ids)  # fmt: skip
    empty_facts = {"users_total": 0}
    for facts in (FACTS, empty_facts):
        pkg = assemble_package(AS_OF, DECISION, ACCOUNT, SCORE, facts, talking)
        for i, tp in enumerate(talking.config.talking_points):
            out = talking.render(i, tp, pkg)
            assert out["opening"] and "None" not in out["opening"], (tp.id, out)
            assert all(q and "None" not in q for q in out["discovery"]), (tp.id, out)
