"""Every signal of the default model fires on its condition and not just below it."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from handoff.config import load_model
from handoff.scoring.engine import signal_points

AS_OF = datetime(2026, 11, 1)
MODEL = load_model("pql_default")


def quiet_user(**kw: object) -> dict:
    row = {
        "user_id": "u1",
        "account_domain": "acme.com",
        "is_freemail": False,
        "has_company_email": True,
        "activation_minutes": None,
        "days_since_signup": 10.0,
        "days_since_last_active": 1.0,
        "last_active_at": AS_OF,
        "dau_mau": 0.1,
        "growth_weeks": 0,
        "active_days_7d": 1,
        "usage_declining": False,
        "premium_features_30d": 0,
        "premium_features_total": 1,
        "last_premium_at": AS_OF,
        "max_usage_ratio_30d": 0.2,
        "last_limit_approach_at": AS_OF,
        "api_calls_30d": 0.0,
        "integrations_connected": 0,
        "last_integration_at": AS_OF,
        "distinct_features_30d": 1,
        "invites_sent": 0,
        "last_invite_at": AS_OF,
        "external_shares_30d": 0,
        "last_share_at": AS_OF,
        "pricing_views_30d": 0,
        "last_pricing_view_at": AS_OF,
        "upgrades_abandoned_30d": 0,
        "last_upgrade_abandoned_at": AS_OF,
        "enterprise_interest_30d": 0,
        "last_enterprise_interest_at": AS_OF,
        "billing_contacts_30d": 0,
        "last_billing_contact_at": AS_OF,
        "events_14d": 3,
        "account_users_total": 2,
        "core_actions_first_7d": 0,
        "active_days_14d": 1,
        "upgrades_started_30d": 0,
    }
    row.update(kw)
    return row


def quiet_account(**kw: object) -> dict:
    row = {
        "account_domain": "acme.com",
        "employees": 10,
        "industry": "Retail",
        "users_total": 2,
        "last_new_user_at": AS_OF,
        "active_users_30d": 1,
        "departments_active_30d": 1,
        "user_growth_30d": 0.0,
        "executives_active_30d": 0,
        "last_executive_active_at": AS_OF,
        "workspaces_created": 1,
    }
    row.update(kw)
    return row


USER_CASES = {
    "premium_feature_used": ({"premium_features_30d": 1}, {"premium_features_30d": 0}),
    "premium_features_3plus": ({"premium_features_30d": 3}, {"premium_features_30d": 2}),
    "usage_limit_hit": ({"max_usage_ratio_30d": 1.0}, {"max_usage_ratio_30d": 0.99}),
    "api_or_integrations": ({"integrations_connected": 1}, {"api_calls_30d": 0.0}),
    "feature_breadth": ({"distinct_features_30d": 5}, {"distinct_features_30d": 4}),
    "invited_1_2": ({"invites_sent": 1}, {"invites_sent": 0}),
    "invited_3_5": ({"invites_sent": 5}, {"invites_sent": 2}),
    "invited_6_plus": ({"invites_sent": 6}, {"invites_sent": 5}),
    "shared_externally": ({"external_shares_30d": 1}, {"external_shares_30d": 0}),
    "activated_fast": ({"activation_minutes": 59.0}, {"activation_minutes": 60.0}),
    "dau_mau_30": ({"dau_mau": 0.31}, {"dau_mau": 0.3}),
    "dau_mau_50": ({"dau_mau": 0.51}, {"dau_mau": 0.5}),
    "usage_increasing": ({"growth_weeks": 3}, {"growth_weeks": 2}),
    "active_5_of_7": ({"active_days_7d": 5}, {"active_days_7d": 4}),
    "pricing_viewed": ({"pricing_views_30d": 1}, {"pricing_views_30d": 0}),
    "pricing_viewed_3plus": ({"pricing_views_30d": 3}, {"pricing_views_30d": 2}),
    "upgrade_abandoned": ({"upgrades_abandoned_30d": 1}, {"upgrades_abandoned_30d": 0}),
    "enterprise_features_requested": (
        {"enterprise_interest_30d": 1},
        {"enterprise_interest_30d": 0},
    ),
    "billing_contact": ({"billing_contacts_30d": 1}, {"billing_contacts_30d": 0}),
    "inactive_7d": ({"days_since_last_active": 7.0}, {"days_since_last_active": 6.9}),
    "declining_usage": ({"usage_declining": True}, {"usage_declining": False}),
    "single_user_no_invites": (
        {"account_users_total": 1, "days_since_signup": 30.0},
        {"account_users_total": 1, "days_since_signup": 29.9},
    ),
    "free_features_only": (
        {"premium_features_total": 0, "days_since_signup": 30.0},
        {"premium_features_total": 1, "days_since_signup": 30.0},
    ),
}

ACCOUNT_CASES = {
    "domain_users_3": ({"users_total": 3}, {"users_total": 2}),
    "domain_users_10": ({"users_total": 10}, {"users_total": 9}),
    "shared_externally": None,
    "size_50_500": ({"employees": 50}, {"employees": 49}),
    "size_500_plus": ({"employees": 500}, {"employees": 499}),
    "target_industry": ({"industry": "SaaS"}, {"industry": "Retail"}),
    "icp_match": (
        {"employees": 5000, "industry": "Fintech"},
        {"employees": 5001, "industry": "Fintech"},
    ),
    "active_users_5": ({"active_users_30d": 5}, {"active_users_30d": 4}),
    "active_users_10": ({"active_users_30d": 10}, {"active_users_30d": 9}),
    "departments_2": ({"departments_active_30d": 2}, {"departments_active_30d": 1}),
    "departments_3": ({"departments_active_30d": 3}, {"departments_active_30d": 2}),
    "users_growing": (
        {"user_growth_30d": 0.25, "users_total": 3},
        {"user_growth_30d": 0.24, "users_total": 3},
    ),
    "executive_user": ({"executives_active_30d": 1}, {"executives_active_30d": 0}),
    "multiple_workspaces": ({"workspaces_created": 2}, {"workspaces_created": 1}),
}
ACCOUNT_CASES = {k: v for k, v in ACCOUNT_CASES.items() if v is not None}


def test_every_default_signal_has_a_case() -> None:
    ids = {s.id for s in MODEL.signals}
    assert ids == set(USER_CASES) | set(ACCOUNT_CASES)


def _points(level: str, row: dict) -> pd.Series:
    df = pd.DataFrame([row])
    return signal_points(df, MODEL.signals_at(level), MODEL, AS_OF).points.iloc[0]


def test_quiet_rows_fire_nothing() -> None:
    assert (_points("user", quiet_user()) == 0).all()
    assert (_points("account", quiet_account()) == 0).all()


@pytest.mark.parametrize("signal_id", sorted(USER_CASES))
def test_user_signal_fires_on_its_condition_only(signal_id: str) -> None:
    fire, hold = USER_CASES[signal_id]
    sig = next(s for s in MODEL.signals if s.id == signal_id)
    assert _points("user", quiet_user(**fire))[signal_id] == sig.points
    assert _points("user", quiet_user(**hold))[signal_id] == 0


@pytest.mark.parametrize("signal_id", sorted(ACCOUNT_CASES))
def test_account_signal_fires_on_its_condition_only(signal_id: str) -> None:
    fire, hold = ACCOUNT_CASES[signal_id]
    sig = next(s for s in MODEL.signals if s.id == signal_id)
    assert _points("account", quiet_account(**fire))[signal_id] == sig.points
    assert _points("account", quiet_account(**hold))[signal_id] == 0


def test_group_keeps_only_the_strongest_rung() -> None:
    pts = _points("user", quiet_user(invites_sent=7, pricing_views_30d=4))
    assert pts["invited_6_plus"] == 30 and pts["invited_3_5"] == 0 and pts["invited_1_2"] == 0
    assert pts["pricing_viewed_3plus"] == 20 and pts["pricing_viewed"] == 0


def test_half_life_decay_halves_points_per_half_life() -> None:
    # pricing views decay with a 14-day half-life
    fresh = _points("user", quiet_user(pricing_views_30d=1))
    old = _points(
        "user", quiet_user(pricing_views_30d=1, last_pricing_view_at=datetime(2026, 10, 18))
    )
    older = _points(
        "user", quiet_user(pricing_views_30d=1, last_pricing_view_at=datetime(2026, 10, 4))
    )
    assert fresh["pricing_viewed"] == 10
    assert old["pricing_viewed"] == 5
    assert older["pricing_viewed"] == 2.5


def test_lifespan_decay_drops_points_after_lifespan() -> None:
    inside = _points(
        "user", quiet_user(premium_features_30d=1, last_premium_at=datetime(2026, 10, 3))
    )
    outside = _points(
        "user", quiet_user(premium_features_30d=1, last_premium_at=datetime(2026, 9, 30))
    )
    assert inside["premium_feature_used"] == 10
    assert outside["premium_feature_used"] == 0


def test_negative_signals_subtract() -> None:
    pts = _points("user", quiet_user(days_since_last_active=20.0, usage_declining=True))
    assert pts["inactive_7d"] == -20 and pts["declining_usage"] == -15
    assert pts.sum() == -35


def test_never_active_user_counts_as_inactive_after_a_week() -> None:
    never = quiet_user(days_since_last_active=None, last_active_at=None, days_since_signup=8.0)
    assert _points("user", never)["inactive_7d"] == -20
    fresh = quiet_user(days_since_last_active=None, last_active_at=None, days_since_signup=3.0)
    assert _points("user", fresh)["inactive_7d"] == 0
