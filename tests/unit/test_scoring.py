"""PQL statuses, PQA aggregation and tiers, the intent gate, free-mail users, reasons."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest

from handoff.config import load_model
from handoff.scoring.engine import assign_tiers, score_frames
from tests.unit.test_signals import AS_OF, quiet_account, quiet_user

DEFAULT = load_model("pql_default")
SEED000 = load_model("pql_fit_value_intent")


def _score(model, users: list[dict], accounts: list[dict]):
    return score_frames(model, pd.DataFrame(users), pd.DataFrame(accounts), AS_OF)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # enterprise interest 30 + billing 20 + abandoned upgrade 25 + pricing 3x 20 = 95
        (
            {
                "enterprise_interest_30d": 1,
                "billing_contacts_30d": 1,
                "upgrades_abandoned_30d": 1,
                "pricing_views_30d": 3,
            },
            "hot",
        ),
        # enterprise interest 30 + abandoned upgrade 25 + invited 1-2 10 = 65
        ({"enterprise_interest_30d": 1, "upgrades_abandoned_30d": 1, "invites_sent": 1}, "warm"),
        ({"enterprise_interest_30d": 1}, "emerging"),
        ({"billing_contacts_30d": 1}, "not_pql"),
    ],
)
def test_pql_status_thresholds(overrides: dict, expected: str) -> None:
    res = _score(DEFAULT, [quiet_user(**overrides)], [quiet_account()])
    assert res.users.loc[0, "status"] == expected


@pytest.mark.parametrize(
    ("overrides", "score", "status"),
    [
        # enterprise 30 + abandoned upgrade 25 + API 15 + breadth 10
        (
            {
                "enterprise_interest_30d": 1,
                "upgrades_abandoned_30d": 1,
                "integrations_connected": 1,
                "distinct_features_30d": 5,
            },
            80,
            "hot",
        ),
        (
            {"enterprise_interest_30d": 1, "upgrades_abandoned_30d": 1, "billing_contacts_30d": 1},
            75,
            "warm",
        ),
        ({"enterprise_interest_30d": 1, "billing_contacts_30d": 1}, 50, "warm"),
        ({"upgrades_abandoned_30d": 1, "billing_contacts_30d": 1}, 45, "emerging"),
        ({"enterprise_interest_30d": 1}, 30, "emerging"),
        ({"upgrades_abandoned_30d": 1}, 25, "not_pql"),
    ],
)
def test_pql_status_boundaries_are_inclusive(overrides: dict, score: float, status: str) -> None:
    # seed 003: Hot >= 80, Warm 50-79, Emerging 30-49, Not < 30
    res = _score(DEFAULT, [quiet_user(**overrides)], [quiet_account()])
    assert res.users.loc[0, "score"] == score
    assert res.users.loc[0, "status"] == status


def test_firmographic_fit_counts_once_per_account_but_in_every_users_pql() -> None:
    acct = quiet_account(employees=600, industry="SaaS")  # 20 + 10 + 15 (ICP) = 45
    users = [quiet_user(user_id="a"), quiet_user(user_id="b", billing_contacts_30d=1)]
    res = _score(DEFAULT, users, [acct])
    assert list(res.users["score"]) == [45, 65]
    # PQA = users' own points (0 + 20) + account signals (45), fit not counted per user
    assert res.accounts.loc[0, "score"] == 65
    breakdown = json.loads(res.accounts.loc[0, "breakdown"])
    assert breakdown["firmographic"] == 45 and breakdown["intent"] == 20


def test_pqa_sums_user_scores_and_adds_account_signals() -> None:
    users = [quiet_user(user_id=f"u{i}", billing_contacts_30d=1) for i in range(5)]
    acct = quiet_account(users_total=5, active_users_30d=5, departments_active_30d=2)
    res = _score(DEFAULT, users, [acct])
    # 5 x 20 (billing) + domain users 3+ (15) + active users 5+ (15) + 2 departments (15)
    assert res.accounts.loc[0, "score"] == 100 + 15 + 15 + 15
    # each user's PQL inherits the domain-spread collaboration signal (15): 20 + 15
    assert set(res.users["score"]) == {35}


def test_freemail_users_are_scored_but_never_rolled_up() -> None:
    users = [
        quiet_user(user_id="g1", account_domain=None, is_freemail=True, billing_contacts_30d=1),
        quiet_user(user_id="g2", account_domain=None, is_freemail=True, billing_contacts_30d=1),
        quiet_user(user_id="c1", billing_contacts_30d=1),
    ]
    res = _score(DEFAULT, users, [quiet_account()])
    assert len(res.users) == 3
    assert list(res.accounts["entity_id"]) == ["acme.com"]
    assert res.accounts.loc[0, "score"] == 20  # only c1's points


@pytest.mark.parametrize(
    ("features", "score", "tier"),
    [
        (
            {
                "active_users_30d": 10,
                "departments_active_30d": 2,
                "employees": 600,
                "industry": "SaaS",
            },
            150.01,
            "tier_1",
        ),
        (
            {
                "active_users_30d": 10,
                "departments_active_30d": 2,
                "employees": 600,
                "industry": "SaaS",
            },
            150.0,
            "tier_2",
        ),
        (
            {
                "active_users_30d": 9,
                "departments_active_30d": 2,
                "employees": 600,
                "industry": "SaaS",
            },
            500.0,
            "tier_2",
        ),
        (
            {
                "active_users_30d": 10,
                "departments_active_30d": 1,
                "employees": 600,
                "industry": "SaaS",
            },
            500.0,
            "tier_2",
        ),
        (
            {
                "active_users_30d": 10,
                "departments_active_30d": 2,
                "employees": 600,
                "industry": "Retail",
            },
            500.0,
            "tier_2",
        ),
        (
            {
                "active_users_30d": 5,
                "departments_active_30d": 1,
                "employees": 10,
                "industry": "Retail",
            },
            80.0,
            "tier_2",
        ),
        (
            {
                "active_users_30d": 5,
                "departments_active_30d": 1,
                "employees": 10,
                "industry": "Retail",
            },
            79.99,
            "tier_3",
        ),
        (
            {
                "active_users_30d": 4,
                "departments_active_30d": 1,
                "employees": 10,
                "industry": "Retail",
            },
            200.0,
            "tier_3",
        ),
        (
            {
                "active_users_30d": 2,
                "departments_active_30d": 1,
                "employees": 10,
                "industry": "Retail",
            },
            40.0,
            "tier_3",
        ),
        (
            {
                "active_users_30d": 2,
                "departments_active_30d": 1,
                "employees": 10,
                "industry": "Retail",
            },
            39.99,
            "tier_4",
        ),
        (
            {
                "active_users_30d": 1,
                "departments_active_30d": 1,
                "employees": 10,
                "industry": "Retail",
            },
            900.0,
            "tier_4",
        ),
    ],
)
def test_pqa_tier_boundaries(features: dict, score: float, tier: str) -> None:
    df = pd.DataFrame([quiet_account(**features)]).assign(pqa_score=score)
    names, _ = assign_tiers(DEFAULT, df)
    assert names[0] == tier


def test_seed000_intent_gate() -> None:
    # fit 15 + 10 + 5, value 20 + 20 + 10 = 80 but no intent signal: not a PQL
    acct = quiet_account(employees=100, industry="SaaS")
    no_intent = quiet_user(
        core_actions_first_7d=3,
        integrations_connected=1,
        active_days_14d=3,
        max_usage_ratio_30d=0.1,
        upgrades_started_30d=0,
    )
    with_intent = dict(no_intent, user_id="u2", invites_sent=1)
    res = _score(SEED000, [no_intent, with_intent], [acct])
    assert list(res.users["score"]) == [80, 105]
    assert list(res.users["status"]) == ["nurture", "pql"]
    # below 60 with intent: still nurture
    low = quiet_user(
        user_id="u3",
        invites_sent=1,
        has_company_email=False,
        upgrades_started_30d=0,
        active_days_14d=0,
        max_usage_ratio_30d=0.1,
    )
    res = _score(SEED000, [low], [quiet_account()])
    assert res.users.loc[0, "score"] == 25 and res.users.loc[0, "status"] == "nurture"


def test_seed000_inactivity_after_activation() -> None:
    acct = quiet_account()
    row = quiet_user(
        activation_minutes=30.0,
        days_since_last_active=14.0,
        active_days_14d=0,
        max_usage_ratio_30d=0.1,
        upgrades_started_30d=0,
    )
    res = _score(SEED000, [row], [acct])
    assert res.users.loc[0, "score"] == 5 - 25


def test_reasons_carry_signal_value_and_event_time() -> None:
    seen = datetime(2026, 10, 30, 9, 15)
    row = quiet_user(enterprise_interest_30d=2, last_enterprise_interest_at=seen)
    res = _score(DEFAULT, [row], [quiet_account()])
    reasons = json.loads(res.users.loc[0, "reasons"])
    top = reasons[0]
    assert top["signal"] == "enterprise_features_requested"
    assert top["value"] == 2
    assert top["at"] == "2026-10-30T09:15:00"
    assert 0 < top["points"] < 30  # decayed over two days (half-life 21 days)
    acct_reasons = json.loads(res.accounts.loc[0, "reasons"])
    assert acct_reasons[0]["user_id"] == "u1"
