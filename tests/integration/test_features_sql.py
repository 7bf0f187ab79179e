"""Features computed in the warehouse: point in time, free-mail handling, windows."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from handoff.config import load_source
from handoff.features import extract_features
from handoff.warehouse import Warehouse

AS_OF = datetime(2026, 6, 1)
SRC = load_source()


def tiny_warehouse(path: Path) -> Warehouse:
    wh = Warehouse(path)
    wh.load_df(
        "accounts",
        pd.DataFrame(
            {
                "domain": ["acme.com", "solo.io"],
                "name": ["Acme", "Solo"],
                "plan": ["team", "free"],
                "seat_limit": [10, 3],
                "employees": [120, 4],
                "industry": ["SaaS", "Retail"],
                "created_at": [datetime(2026, 1, 1)] * 2,
            }
        ),
    )
    wh.load_df(
        "users",
        pd.DataFrame(
            {
                "user_id": ["a1", "a2", "a3", "g1", "g2", "s1", "late"],
                "email": [
                    "ann@acme.com",
                    "Bob@ACME.com",
                    "cy@acme.com",
                    "x@gmail.com",
                    "y@Gmail.com",
                    "solo@solo.io",
                    "new@acme.com",
                ],
                "name": ["a"] * 7,
                "title": ["VP Sales", "Engineer", "Analyst", "Founder", "Dev", "CEO", "x"],
                "role": ["admin", "member", "member", "admin", "admin", "admin", "member"],
                "department": ["Sales", "Engineering", "Data", "Product", "Design", "Ops", "Ops"],
                "created_at": [datetime(2026, 4, 1)] * 6 + [AS_OF],  # 'late' signs up at as_of
            }
        ),
    )
    t = AS_OF - timedelta(hours=3)
    rows = [
        ("a1", "session_started", t - timedelta(days=1), None, None),
        ("a1", "pricing_viewed", t, None, 200.0),
        ("a1", "pricing_viewed", t - timedelta(days=40), None, 50.0),  # outside 30 days
        ("a1", "enterprise_feature_viewed", t, "sso", None),
        ("a1", "teammate_invited", t - timedelta(days=10), None, None),
        ("a2", "feature_used", t, "advanced_analytics", None),
        ("a2", "feature_used", t, "charts", None),
        ("a2", "plan_usage_recorded", t, "seats", 0.85),
        ("a2", "api_called", t, "api_access", 40.0),
        ("g1", "session_started", t, None, None),
        ("g2", "session_started", t, None, None),
        ("s1", "session_started", t - timedelta(days=20), None, None),
        # at and after as_of: must never reach a feature
        ("a1", "billing_question", AS_OF, "invoicing", None),
        ("a3", "contact_sales_clicked", AS_OF + timedelta(days=1), None, None),
        ("late", "session_started", AS_OF + timedelta(hours=1), None, None),
    ]
    ev = pd.DataFrame(rows, columns=["user_id", "event_name", "occurred_at", "feature", "value"])
    ev.insert(0, "event_id", range(len(ev)))
    wh.load_df("events", ev)
    return wh


@pytest.fixture
def wh(tmp_path: Path):
    w = tiny_warehouse(tmp_path / "w.duckdb")
    yield w
    w.close()


def features(wh: Warehouse, as_of: datetime = AS_OF) -> tuple[pd.DataFrame, pd.DataFrame]:
    extract_features(wh, SRC, as_of)
    u = wh.query(f"SELECT * FROM user_features WHERE as_of = TIMESTAMP '{as_of}'")
    a = wh.query(f"SELECT * FROM account_features WHERE as_of = TIMESTAMP '{as_of}'")
    return u.set_index("user_id"), a.set_index("account_domain")


def test_freemail_users_are_never_one_company(wh: Warehouse) -> None:
    u, a = features(wh)
    assert u.loc["g1", "account_domain"] is None or pd.isna(u.loc["g1", "account_domain"])
    assert pd.isna(u.loc["g2", "account_domain"])  # mixed case gmail too
    assert bool(u.loc["g1", "is_freemail"]) and not bool(u.loc["a1", "is_freemail"])
    assert "gmail.com" not in a.index
    assert sorted(a.index) == ["acme.com", "solo.io"]
    assert u.loc["a2", "account_domain"] == "acme.com"  # Bob@ACME.com normalised


def test_point_in_time_excludes_events_and_users_at_or_after_as_of(wh: Warehouse) -> None:
    u, a = features(wh)
    assert "late" not in u.index
    assert u.loc["a1", "billing_contacts_30d"] == 0  # event exactly at as_of
    assert a.loc["acme.com", "contact_sales_30d"] == 0
    assert a.loc["acme.com", "users_total"] == 3
    # later data must not change the past snapshot
    before = u.drop(columns=[]).sort_index()
    extra = pd.DataFrame(
        [(99, "a2", "checkout_abandoned", AS_OF + timedelta(minutes=1), None, None)],
        columns=["event_id", "user_id", "event_name", "occurred_at", "feature", "value"],
    )
    wh.append_df("events", extra)
    after, _ = features(wh)
    pd.testing.assert_frame_equal(before, after.sort_index())


def test_windowed_counts_and_values(wh: Warehouse) -> None:
    u, a = features(wh)
    a1, a2 = u.loc["a1"], u.loc["a2"]
    assert a1["pricing_views_30d"] == 1 and a1["pricing_max_seconds_30d"] == 200.0
    assert a1["enterprise_interest_30d"] == 1 and a1["invites_sent"] == 1
    assert bool(a1["is_executive"]) and not bool(a2["is_executive"])
    assert a2["premium_features_30d"] == 1 and a2["distinct_features_30d"] == 2
    assert a2["max_usage_ratio_30d"] == 0.85 and a2["api_calls_30d"] == 40.0
    assert u.loc["s1", "days_since_last_active"] == pytest.approx(20.125)
    assert u.loc["s1", "account_users_total"] == 1 and u.loc["g1", "account_users_total"] == 1
    acme = a.loc["acme.com"]
    assert acme["active_users_30d"] == 2 and acme["departments_active_30d"] == 2
    assert acme["executives_active_30d"] == 1 and acme["employees"] == 120
    assert acme["seat_usage_ratio"] == 0.3


def test_rerun_replaces_the_slice(wh: Warehouse) -> None:
    features(wh)
    features(wh)
    features(wh, AS_OF - timedelta(days=1))
    n = wh.query("SELECT as_of, count(*) AS n FROM user_features GROUP BY as_of ORDER BY as_of")
    assert list(n["n"]) == [6, 6]


def test_enrichment_fills_gaps_and_adds_columns(wh: Warehouse) -> None:
    wh.load_df(
        "firmographics",
        pd.DataFrame(
            {
                "domain": ["acme.com", "solo.io"],
                "name": ["Acme Inc", "Solo"],
                "employees": [999, 7],
                "industry": ["Other", "Retail"],
                "country": ["US", "DE"],
                "status": ["found", "unknown"],
                "fetched_at": [AS_OF, AS_OF],
            }
        ),
    )
    _, a = features(wh)
    # the product's own columns win; enrichment adds what the product lacks
    assert a.loc["acme.com", "employees"] == 120 and a.loc["acme.com", "country"] == "US"
    assert pd.isna(a.loc["solo.io", "country"])  # unknown domains contribute nothing
    wh.execute("UPDATE accounts SET employees = NULL WHERE domain = 'acme.com'")
    _, a = features(wh)
    assert a.loc["acme.com", "employees"] == 999
