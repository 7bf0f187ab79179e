"""Funnel metrics and lift on a small fixed set of handoffs, every answer worked by hand.

The fixture: 8 routed handoffs (r1..r8) and 4 holdout (h1..h4). T0 is Monday 2026-01-05
09:00; outcomes are observed until 2026-06-01. See each test for the arithmetic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from handoff.outcomes.metrics import (
    MissingColumnsError,
    accept_flag,
    compute_metrics,
    conversion_by_touch,
    funnel,
    lift_vs_holdout,
    newcombe_interval,
    prepare_outcomes,
    summarize,
    touch_bucket,
    wilson_interval,
)
from handoff.outcomes.schema import HANDOFF_OUTCOME_COLUMNS

T0 = datetime(2026, 1, 5, 9, 0)
SEEN = datetime(2026, 6, 1)
H = timedelta(hours=1)
D = timedelta(days=1)


def _row(name: str, decision: str, tier: str, handed: datetime, **kw: object) -> dict:
    row: dict[str, object] = dict.fromkeys(HANDOFF_OUTCOME_COLUMNS)
    row.update(
        as_of=handed.replace(hour=0, minute=0),
        model_version="m@1",
        account_domain=f"{name}.com",
        episode_id=name,
        decision=decision,
        tier=tier,
        segment=kw.pop("segment", "mid_market"),
        trigger_id=kw.pop("trigger", "pricing"),
        owner_email=kw.pop("owner", None),
        handed_off_at=handed,
        sla_due_at=kw.pop("due", handed + 24 * H),
        observed_until=SEEN,
    )
    touch = kw.pop("touch_h", None)
    row["first_touch_at"] = None if touch is None else handed + touch * H
    if "opp_d" in kw:
        row["opportunity_id"] = f"opp-{name}"
        row["opportunity_opened_at"] = handed + kw.pop("opp_d") * D
    if "close_d" in kw:
        row["closed_at"] = handed + kw.pop("close_d") * D
        row["won"] = kw.pop("won")
        row["amount"] = kw.pop("amount", None)
    if "ss_d" in kw:
        row["self_serve_converted_at"] = handed + kw.pop("ss_d") * D
    if "disposition" in kw:
        row["disposition"] = kw.pop("disposition")
        row["disposition_at"] = handed + 30 * H
    assert not kw, kw
    return row


def outcomes_frame() -> pd.DataFrame:
    a, b = "a@x.com", "b@x.com"
    rows = [
        _row("r1", "routed", "tier_1", T0, owner=a, segment="enterprise", disposition="accepted",
             touch_h=2, opp_d=3, close_d=20, won=True, amount=10000.0),
        _row("r2", "routed", "tier_1", T0 + D, owner=a, segment="enterprise",
             disposition="accepted", touch_h=10, opp_d=5, close_d=30, won=False),
        _row("r3", "routed", "tier_2", T0 + 2 * D, owner=b, trigger="limit",
             disposition="rejected", touch_h=30),
        _row("r4", "routed", "tier_2", T0 + 7 * D, owner=b, trigger="limit",
             disposition="accepted", touch_h=100, opp_d=10, close_d=40, won=True, amount=20000.0),
        _row("r5", "routed", "tier_3", T0 + 8 * D, owner=a),
        _row("r6", "routed", "tier_3", datetime(2026, 5, 30, 9), owner=b,
             due=datetime(2026, 6, 2, 9)),
        _row("r7", "routed", "tier_1", T0 + 9 * D, owner=a, segment="enterprise",
             trigger="limit", disposition="rejected", touch_h=1, ss_d=15),
        _row("r8", "routed", "tier_2", T0 + 14 * D, owner=b, disposition="accepted",
             touch_h=24, opp_d=7, close_d=100, won=True, amount=30000.0),
        _row("h1", "holdout", "tier_1", T0, ss_d=10),
        _row("h2", "holdout", "tier_2", T0 + D),
        _row("h3", "holdout", "tier_3", T0 + 8 * D),
        _row("h4", "holdout", "tier_2", datetime(2026, 5, 30, 9), ss_d=1),
    ]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture
def outcomes() -> pd.DataFrame:
    return prepare_outcomes(outcomes_frame())


def test_volume_accept_and_conversion(outcomes: pd.DataFrame) -> None:
    s = summarize(outcomes)
    assert (s["handoffs"], s["routed"], s["holdout"]) == (12, 8, 4)
    # accepted r1 r2 r4 r8, rejected r3 r7: 4 / 6
    assert (s["accepted"], s["rejected"], s["dispositioned"]) == (4, 2, 6)
    assert s["accept_rate"] == pytest.approx(4 / 6)
    assert s["accept_flag"] == "ok"
    # opportunities r1 r2 r4 r8 over 8 routed; won r1 r4 r8
    assert s["opportunity_rate"] == pytest.approx(4 / 8)
    assert s["won"] == 3 and s["won_rate"] == pytest.approx(3 / 8)
    # self-serve among routed: r7
    assert s["self_serve_rate"] == pytest.approx(1 / 8)


def test_time_to_touch_median_and_p90(outcomes: pd.DataFrame) -> None:
    s = summarize(outcomes)
    # touched: 1 2 10 24 30 100 h -> median (10 + 24) / 2; p90 at rank 4.5: 30 + 0.5 * 70
    assert s["touched"] == 6
    assert s["ttt_median_h"] == pytest.approx(17.0)
    assert s["ttt_p90_h"] == pytest.approx(65.0)


def test_sla_compliance(outcomes: pd.DataFrame) -> None:
    s = summarize(outcomes)
    # met: r1 (2 h), r2 (10 h), r7 (1 h), r8 (24 h, exactly at due); missed: r3 (30 h),
    # r4 (100 h), r5 (untouched, due long before observed_until); r6 untouched and due
    # after observed_until: excluded
    assert (s["sla_met"], s["sla_evaluated"]) == (4, 7)
    assert s["sla_compliance"] == pytest.approx(4 / 7)


def test_cycle_time_and_acv(outcomes: pd.DataFrame) -> None:
    s = summarize(outcomes)
    # won r1 (20 d, 10k), r4 (40 d, 20k), r8 (100 d, 30k)
    assert s["cycle_days_median"] == pytest.approx(40.0)
    assert s["cycle_days_mean"] == pytest.approx(160 / 3)
    assert s["acv"] == pytest.approx(20000.0)


def test_touch_buckets_are_left_closed() -> None:
    hours = pd.Series([0.0, 3.99, 4.0, 23.9, 24.0, 71.9, 72.0, 500.0, None])
    assert list(touch_bucket(hours)) == [
        "<4 h", "<4 h", "4-24 h", "4-24 h", "24-72 h", "24-72 h", ">72 h", ">72 h", "untouched",
    ]  # fmt: skip


def test_conversion_by_touch_bucket(outcomes: pd.DataFrame) -> None:
    t = conversion_by_touch(outcomes).set_index("bucket")
    # <4 h: r1 (won), r7; 4-24 h: r2 (opp, lost); 24-72 h: r3, r8 (24 h, won);
    # >72 h: r4 (won); untouched: r5, r6
    assert t.loc["<4 h", ["handoffs", "opportunities", "won"]].tolist() == [2, 1, 1]
    assert t.loc["4-24 h", ["handoffs", "opportunities", "won"]].tolist() == [1, 1, 0]
    assert t.loc["24-72 h", ["handoffs", "opportunities", "won"]].tolist() == [2, 1, 1]
    assert t.loc[">72 h", ["handoffs", "opportunities", "won"]].tolist() == [1, 1, 1]
    assert t.loc["untouched", "handoffs"] == 2
    assert t.loc["<4 h", "won_rate"] == pytest.approx(0.5)


def test_per_week_accept_rate_flags(outcomes: pd.DataFrame) -> None:
    w = funnel(outcomes, period="week").set_index("period")
    # week of 01-05: r1 r2 accepted, r3 rejected; 01-12: r4 accepted, r7 rejected;
    # 01-19: r8 accepted; 05-25 (r6, h4, a Saturday): no dispositions
    assert list(w.index) == [
        pd.Timestamp(d) for d in ("2026-01-05", "2026-01-12", "2026-01-19", "2026-05-25")
    ]
    assert w["handoffs"].tolist() == [5, 4, 1, 2]
    assert w["accept_rate"].tolist()[:3] == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert w["accept_flag"].tolist()[:3] == ["ok", "low", "high"]
    assert pd.isna(w["accept_flag"].iloc[3]) and pd.isna(w["accept_rate"].iloc[3])


def test_per_month(outcomes: pd.DataFrame) -> None:
    m = funnel(outcomes, period="month").set_index("period")
    assert m["handoffs"].to_dict() == {
        pd.Timestamp("2026-01-01"): 10,
        pd.Timestamp("2026-05-01"): 2,
    }


def test_by_dimension(outcomes: pd.DataFrame) -> None:
    tier = funnel(outcomes, by="tier").set_index("tier")
    # tier_1 routed r1 r2 r7 (won r1); tier_2 routed r3 r4 r8 (won r4 r8); tier_3 r5 r6
    assert tier["routed"].to_dict() == {"tier_1": 3, "tier_2": 3, "tier_3": 2}
    assert tier["won_rate"].tolist() == pytest.approx([1 / 3, 2 / 3, 0.0])
    owner = funnel(outcomes, by="owner_email").set_index("owner_email")
    assert owner.loc["(none)", "holdout"] == 4 and owner.loc["(none)", "routed"] == 0
    assert owner.loc["a@x.com", "accept_rate"] == pytest.approx(2 / 3)
    trig = funnel(outcomes, by="trigger_id").set_index("trigger_id")
    assert trig.loc["limit", "routed"] == 3  # r3 r4 r7


def test_accept_flag_band_edges() -> None:
    assert accept_flag(0.60) == "ok" and accept_flag(0.75) == "ok"
    assert accept_flag(0.599) == "low" and accept_flag(0.751) == "high"
    assert accept_flag(None) is None


def test_wilson_and_newcombe_match_published_values() -> None:
    # Newcombe (1998), Stat Med 17:857: 81/263 -> Wilson 0.2553 to 0.3662;
    # 56/70 vs 48/80 -> difference 0.2000, method 10: 0.0524 to 0.3339
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert newcombe_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert wilson_interval(0, 10)[0] == 0.0


def test_lift_counts_only_observed_horizons(outcomes: pd.DataFrame) -> None:
    lf = lift_vs_holdout(outcomes, "converted", horizon_days=90)
    # r6 and h4 (handed off 05-30) are not observed for 90 days: out.
    # routed: r1 won d20, r4 won d40, r7 self-serve d15 -> 3 of 7 (r8 won at d100: late)
    # holdout: h1 self-serve d10 -> 1 of 3
    assert (lf.routed_converted, lf.routed_n) == (3, 7)
    assert (lf.holdout_converted, lf.holdout_n) == (1, 3)
    assert lf.unobserved == 2
    assert lf.difference == pytest.approx(3 / 7 - 1 / 3)
    assert (lf.ci_low, lf.ci_high) == pytest.approx(newcombe_interval(3, 7, 1, 3))
    assert lf.ci_low < lf.difference < lf.ci_high
    assert lf.relative == pytest.approx((3 / 7) / (1 / 3) - 1)
    # 100 days takes in r8's day-100 win (horizons end by 04-29, still observed)
    assert lift_vs_holdout(outcomes, "converted", horizon_days=100).routed_converted == 4
    # 150 days from 01-05 ends 06-04, after observed_until: nobody counts yet
    assert lift_vs_holdout(outcomes, "converted", horizon_days=150).routed_n == 0


def test_self_serve_counter_metric(outcomes: pd.DataFrame) -> None:
    lf = lift_vs_holdout(outcomes, "self_serve", horizon_days=90)
    assert (lf.routed_converted, lf.routed_n, lf.holdout_converted, lf.holdout_n) == (1, 7, 1, 3)
    assert lf.difference == pytest.approx(1 / 7 - 1 / 3)


def test_won_horizon_excludes_late_close(outcomes: pd.DataFrame) -> None:
    short = lift_vs_holdout(outcomes, "won", horizon_days=30)
    # within 30 days only r1 (d20) won; all but r6/h4 are observed
    assert (short.routed_converted, short.routed_n) == (1, 7)


def test_compute_metrics_bundle() -> None:
    m = compute_metrics(outcomes_frame(), period="week", horizon_days=90)
    assert m.overall["accept_rate"] == pytest.approx(4 / 6)
    assert set(m.by_dimension) == {"tier", "segment", "trigger_id", "owner_email"}
    assert m.lift.routed_n == 7 and m.self_serve.outcome == "self_serve"
    assert not m.empty and m.notes == []


def test_empty_outcomes_give_empty_metrics_not_errors() -> None:
    m = compute_metrics(outcomes_frame().iloc[:0])
    assert m.empty
    assert m.overall["accept_rate"] is None and m.lift.difference is None
    assert m.by_period.empty
    assert "No handoffs yet" in m.notes[0]


def test_missing_column_is_named() -> None:
    with pytest.raises(MissingColumnsError, match="first_touch_at"):
        compute_metrics(outcomes_frame().drop(columns=["first_touch_at"]))
