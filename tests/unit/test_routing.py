"""Routing rules: segments, ACV and motions, no-touch lane, territory, capacity and queue,
round-robin fairness and determinism, holdout share and stability, config errors."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model
from handoff.errors import ConfigError
from handoff.routing import (
    Roster,
    RoutingConfig,
    expected_acv,
    holdout_bucket,
    in_holdout,
    load_roster,
    load_routing,
    route,
)

AS_OF = datetime(2026, 11, 1)

CONFIG: dict = {
    "eligibility": {
        "routable_tiers": ["tier_1", "tier_2", "tier_3"],
        "ae_min_acv": 5000,
        "exclusions": [
            {"name": "poor_fit", "reason": "fit tier C", "when": {"feature": "fit_tier", "eq": "C"}}
        ],
    },
    "holdout": {"share": 0.0, "salt": "test-salt"},
    "acv": {
        "price_per_seat": {"free": 240, "team": 480, "business": 840, "default": 240},
        "size_bands": [
            {"name": "smb", "max_employees": 49, "seat_multiplier": [1.0, 1.5]},
            {"name": "mid_market", "max_employees": 499, "seat_multiplier": [1.5, 4.0]},
            {"name": "enterprise", "seat_multiplier": [3.0, 10.0]},
        ],
    },
    "segments": [
        {
            "name": "enterprise",
            "label": "Enterprise",
            "when": {"any": [{"feature": "employees", "gte": 500}, {"ref": "big_deal"}]},
            "owner_role": "AE",
            "motion": "named_ae",
        },
        {
            "name": "mid_market",
            "label": "Mid-Market",
            "when": {"any": [{"feature": "employees", "gte": 50}, {"feature": "expected_acv", "gte": 5000}]},
            "owner_role": "SDR",
            "motion": "inside_sales",
        },
        {"name": "smb", "label": "SMB", "motion": "self_serve"},
    ],
    "conditions": {"big_deal": {"feature": "expected_acv", "gte": 50000}},
    "customer_when": {"feature": "plan", "in": ["business"]},
    "motions": [
        {"name": "digital_cs", "label": "Digital CS", "max_acv": 20000},
        {"name": "csm_1_many", "label": "CSM 1:many", "max_acv": 80000, "customer_owner_role": "CSM"},
        {"name": "csm_ae", "label": "CSM + AE", "max_acv": 400000, "customer_owner_role": "AE"},
        {"name": "strategic", "label": "Dedicated CSM + AE", "customer_owner_role": "AE"},
    ],
    "territory": {
        "country_aliases": {"Germany": "DE"},
        "rules": [
            {"region": "STRATEGIC", "when": {"feature": "employees", "gte": 10000}},
            {"region": "NA", "when": {"feature": "country", "in": ["US", "CA"]}},
            {"region": "EMEA", "when": {"feature": "country", "in": ["GB", "DE"]}},
        ],
        "default_region": "NA",
    },
}  # fmt: skip


def cfg(**over: object) -> RoutingConfig:
    data = {**CONFIG, **over}
    return RoutingConfig.model_validate(data)


def roster(*reps: dict) -> Roster:
    base = {"regions": ["*"], "segments": ["*"], "weekly_capacity": 10}
    return Roster.model_validate({"reps": [{**base, **r} for r in reps]})


SDRS = roster(
    {"name": "Ann", "email": "ann@x.io", "role": "SDR"},
    {"name": "Bob", "email": "bob@x.io", "role": "SDR"},
    {"name": "Cyd", "email": "cyd@x.io", "role": "SDR"},
    {"name": "Eve", "email": "eve@x.io", "role": "AE"},
    {"name": "Flo", "email": "flo@x.io", "role": "CSM"},
)


def accounts(*rows: dict) -> pd.DataFrame:
    base = {"tier": "tier_2", "score": 100.0, "employees": 120, "plan": "team", "users_total": 5}
    return pd.DataFrame([{**base, **r} for r in rows])


def triggers(domains: list[str], **over: object) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "account_domain": d,
                "trigger_id": "usage_limit_approached",
                "episode_id": f"{d}#1",
                "fired_at": AS_OF - timedelta(hours=2),
                "class": "high_signal",
                "priority": "high",
                "owner_role": "SDR",
                "channel": "email",
                "sla_due_at": AS_OF + timedelta(hours=22),
                **over,
            }
            for d in domains
        ]
    )


def run(acc: pd.DataFrame, hist: pd.DataFrame | None = None, *, config=None, reps=None, trig=None,
        as_of: datetime = AS_OF) -> pd.DataFrame:  # fmt: skip
    trig = triggers(list(acc["account_domain"])) if trig is None else trig
    out = route(acc, trig, hist if hist is not None else pd.DataFrame(), as_of,
                config or cfg(), reps or SDRS)  # fmt: skip
    return out.set_index("account_domain")


# -- segments, ACV, motions -----------------------------------------------------------------
def test_segments_by_size_and_expected_acv() -> None:
    out = run(
        accounts(
            {"account_domain": "tiny.io", "employees": 10, "users_total": 3},
            {"account_domain": "mid.io", "employees": 120},
            {"account_domain": "big.io", "employees": 800},
            # small company, but 12 users on team at $480: expected ACV >= $5K -> mid-market
            {"account_domain": "busy.io", "employees": 30, "users_total": 12},
        )
    )
    assert out.loc["tiny.io", ["segment", "decision", "motion"]].tolist() == [
        "smb", "no_touch", "self_serve"]  # fmt: skip
    assert out.loc["tiny.io", "reason"] == "segment smb is self-serve (self_serve)"
    assert out.loc["mid.io", ["segment", "owner_role", "motion", "decision"]].tolist() == [
        "mid_market", "SDR", "inside_sales", "routed"]  # fmt: skip
    assert out.loc["big.io", ["segment", "owner_role", "motion", "owner_name"]].tolist() == [
        "enterprise", "AE", "named_ae", "Eve"]  # fmt: skip
    assert out.loc["busy.io", "segment"] == "mid_market"


def test_expected_acv_range_scales_seats_by_size_band_and_caps_at_employees() -> None:
    df = pd.DataFrame(
        {
            "employees": [10, 120, 800, 20, None],
            "plan": ["free", "team", "business", "team", "mystery"],
            "users_total": [2, 5, 20, 8, 3],
            "seat_limit": [3, 10, 50, 10, None],
        }
    )
    acv = expected_acv(df, cfg().acv)
    assert acv["size_band"].tolist() == ["smb", "mid_market", "enterprise", "smb", "smb"]
    # smb: 3 seats x [1, 1.5] x $240; mid: 10 x [1.5, 4] x $480; ent: 50 x [3, 10] x $840
    # capped at 800 employees; smb 10 seats x [1, 1.5] capped at 20 employees; unknown plan
    assert acv["expected_acv_low"].tolist() == [700.0, 7200.0, 126000.0, 4800.0, 700.0]
    assert acv["expected_acv_high"].tolist() == [1100.0, 19200.0, 420000.0, 7200.0, 1100.0]
    # enrichment's size_band wins when it names a configured band
    banded = expected_acv(df.assign(size_band=["enterprise", None, "weird", None, None]), cfg().acv)
    assert banded["size_band"].tolist() == ["enterprise", "mid_market", "enterprise", "smb", "smb"]


def test_paying_customers_follow_the_csm_vs_ae_table_by_acv() -> None:
    acc = accounts(
        # business plan: $840 a seat; mid-market x [1.5, 4]
        {"account_domain": "c10k.io", "plan": "business", "users_total": 3},  # 3.8K-10.1K
        {"account_domain": "c40k.io", "plan": "business", "users_total": 15},  # 18.9K-50.4K
        {"account_domain": "c150k.io", "plan": "business", "users_total": 60, "employees": 450},
        {"account_domain": "c900k.io", "plan": "business", "users_total": 150, "employees": 5000},
    )
    out = run(acc)
    assert out.loc["c10k.io", "decision"] == "no_touch"
    assert out.loc["c10k.io", "reason"] == (
        "paying customer in ACV band digital_cs: digital CS, no rep"
    )
    assert out.loc["c40k.io", ["motion", "owner_role", "owner_name"]].tolist() == [
        "csm_1_many", "CSM", "Flo"]  # fmt: skip
    assert out.loc["c150k.io", ["motion", "owner_role"]].tolist() == ["csm_ae", "AE"]
    assert out.loc["c900k.io", ["motion", "owner_role"]].tolist() == ["strategic", "AE"]


# -- no-touch lane ---------------------------------------------------------------------------
def test_no_touch_lane_records_the_reason() -> None:
    acc = accounts(
        {"account_domain": "t4.io", "tier": "tier_4"},
        {"account_domain": "quiet.io"},
        {"account_domain": "offfit.io", "fit_tier": "C"},
        # enterprise by size, but 1 free seat: expected ACV far below $5K -> no AE
        {"account_domain": "solo.io", "employees": 900, "plan": "free", "users_total": 1},
        {"account_domain": "ok.io"},
    )
    trig = triggers(["t4.io", "offfit.io", "solo.io", "ok.io"])
    out = run(acc, trig=trig)
    assert out["decision"].to_dict() == {
        "offfit.io": "no_touch", "ok.io": "routed", "quiet.io": "no_touch",
        "solo.io": "no_touch", "t4.io": "no_touch",
    }  # fmt: skip
    assert out.loc["t4.io", "reason"] == "PQA tier tier_4 is not routable (tier_1, tier_2, tier_3)"
    assert out.loc["quiet.io", "reason"] == "no open trigger episode"
    assert out.loc["offfit.io", "reason"] == "poor_fit: fit tier C"
    assert out.loc["solo.io", "reason"] == (
        "expected ACV $1,550 is below the AE minimum of $5,000: self-serve owns it"
    )
    assert out.loc["solo.io", "owner_name"] is None
    # the no-touch rows are still scored and described
    assert out.loc["t4.io", "segment"] == "mid_market"
    assert out.loc["t4.io", "trigger_id"] == "usage_limit_approached"


def test_missing_columns_degrade_gracefully() -> None:
    acc = pd.DataFrame({"account_domain": ["Bare.IO"], "status": ["tier_1"]})
    out = run(acc, trig=triggers(["bare.io"]))
    row = out.loc["bare.io"]
    # no employees, plan or seats: smb band, one seat, default price; region by default
    assert row["segment"] == "smb" and row["decision"] == "no_touch"
    assert (row["expected_acv_low"], row["expected_acv_high"]) == (200.0, 400.0)
    assert row["region"] == "NA" and row["country"] is None


# -- territory -------------------------------------------------------------------------------
def test_territory_rules_in_order_with_aliases_and_default() -> None:
    reps = roster(*[{"name": f"R{r}", "email": f"r{r}@x.io", "role": "SDR", "regions": [r]}
                    for r in ("NA", "EMEA")],
                  {"name": "Big", "email": "big@x.io", "role": "AE", "regions": ["STRATEGIC"]})  # fmt: skip
    acc = accounts(
        {"account_domain": "us.io", "country": "us"},
        {"account_domain": "de.io", "country": "Germany"},
        {"account_domain": "gb.io", "country": "GB"},
        {"account_domain": "jp.io", "country": "JP"},
        {"account_domain": "huge.io", "country": "GB", "employees": 20000},
    )
    out = run(acc, reps=reps)
    assert out["region"].to_dict() == {
        "de.io": "EMEA", "gb.io": "EMEA", "huge.io": "STRATEGIC", "jp.io": "NA", "us.io": "NA",
    }  # fmt: skip
    assert out.loc["de.io", "owner_name"] == "REMEA"
    assert out.loc["huge.io", "owner_name"] == "Big"
    assert out.loc["de.io", "country"] == "DE"


def test_no_rep_covering_the_territory_queues_with_reason() -> None:
    reps = roster({"name": "Nadia", "email": "n@x.io", "role": "SDR", "regions": ["NA"]})
    out = run(accounts({"account_domain": "de.io", "country": "DE"}), reps=reps)
    assert out.loc["de.io", "decision"] == "queued"
    assert out.loc["de.io", "reason"] == (
        "queued: no active SDR covers region EMEA and segment mid_market"
    )


# -- capacity, queue, round-robin --------------------------------------------------------------
def test_capacity_limits_queue_the_rest_never_drop() -> None:
    reps = roster({"name": "Solo", "email": "solo@x.io", "role": "SDR", "weekly_capacity": 2})
    acc = accounts(*[{"account_domain": f"a{i}.io", "score": 100.0 - i} for i in range(4)])
    out = run(acc, reps=reps)
    assert out["decision"].tolist() == ["routed", "routed", "queued", "queued"]
    assert out.loc["a2.io", "reason"] == (
        "queued: all 1 SDR(s) covering NA/mid_market are at weekly capacity"
    )
    assert out.loc["a2.io", "trigger_id"] == "usage_limit_approached"  # kept for the retry

    # two new assignments yesterday use up the week; eight days ago they no longer count
    hist = out.reset_index().assign(as_of=pd.Timestamp(AS_OF - timedelta(days=1)))
    later = AS_OF + timedelta(hours=1)
    again = run(accounts({"account_domain": "b.io"}), hist, reps=reps, as_of=later,
                trig=triggers(["b.io"], fired_at=later))  # fmt: skip
    assert again.loc["b.io", "decision"] == "queued"
    old = hist.assign(as_of=pd.Timestamp(AS_OF - timedelta(days=8)))
    fresh = run(accounts({"account_domain": "b.io"}), old, reps=reps,
                trig=triggers(["b.io"]))  # fmt: skip
    assert fresh.loc["b.io", "decision"] == "routed"
    # the window is the last 7 days, (as_of - 7 d, as_of]: a weekly cadence gets a full week
    week = hist.assign(as_of=pd.Timestamp(AS_OF - timedelta(days=7)))
    weekly = run(accounts({"account_domain": "b.io"}), week, reps=reps,
                 trig=triggers(["b.io"]))  # fmt: skip
    assert weekly.loc["b.io", "decision"] == "routed"


def test_queued_accounts_are_retried_on_later_runs() -> None:
    reps = roster({"name": "Solo", "email": "solo@x.io", "role": "SDR", "weekly_capacity": 1})
    first = run(accounts({"account_domain": "a.io", "score": 90}, {"account_domain": "b.io"}),
                reps=reps)  # fmt: skip
    assert first["decision"].to_dict() == {"a.io": "queued", "b.io": "routed"}
    hist = first.reset_index()
    nine_days = AS_OF + timedelta(days=9)
    # no new trigger for a.io; the queued episode is carried and routed now that there is room
    second = run(accounts({"account_domain": "a.io"}, {"account_domain": "b.io"}), hist,
                 reps=reps, as_of=nine_days, trig=triggers([]))  # fmt: skip
    assert second.loc["a.io", "decision"] == "routed"
    assert second.loc["a.io", "episode_id"] == "a.io#1"
    assert second.loc["b.io", "decision"] == "no_touch"  # its episode was routed already


def test_round_robin_is_fair_and_deterministic() -> None:
    acc = accounts(*[{"account_domain": f"d{i:02d}.io", "score": 200.0 - i} for i in range(9)])
    out = run(acc)
    assert out["owner_name"].value_counts().to_dict() == {"Ann": 3, "Bob": 3, "Cyd": 3}
    # the highest score goes first, then round-robin in name order
    assert out.sort_values("assign_order")["owner_name"].tolist()[:4] == [
        "Ann",
        "Bob",
        "Cyd",
        "Ann",
    ]
    pd.testing.assert_frame_equal(out, run(acc.sample(frac=1, random_state=3)))


def test_round_robin_pointer_continues_from_history() -> None:
    first = run(accounts({"account_domain": "a.io", "score": 900}, {"account_domain": "b.io"}))
    assert first["owner_name"].to_dict() == {"a.io": "Ann", "b.io": "Bob"}
    hist = first.reset_index()
    later = AS_OF + timedelta(days=1)
    nxt = run(accounts({"account_domain": "c.io"}), hist, as_of=later,
              trig=triggers(["c.io"], fired_at=later))  # fmt: skip
    assert nxt.loc["c.io", "owner_name"] == "Cyd"
    # a rerun over the same history gives the same answer, even if the slice itself is in it
    with_self = pd.concat([hist, nxt.reset_index()], ignore_index=True)
    rerun = run(accounts({"account_domain": "c.io"}), with_self, as_of=later,
                trig=triggers(["c.io"], fired_at=later))  # fmt: skip
    pd.testing.assert_frame_equal(nxt, rerun)


def test_previous_owner_kept_and_same_episode_not_reassigned() -> None:
    first = run(accounts({"account_domain": "a.io"}))
    assert first.loc["a.io", "owner_name"] == "Ann"
    hist = first.reset_index()
    later = AS_OF + timedelta(days=2)
    same = run(accounts({"account_domain": "a.io"}), hist, as_of=later)
    assert same.loc["a.io", "owner_name"] == "Ann"
    assert not same.loc["a.io", "new_assignment"]
    assert same.loc["a.io", "reason"].startswith(
        "episode a.io#1 already routed to Ann on 2026-11-01"
    )
    new_episode = run(accounts({"account_domain": "a.io"}), hist, as_of=later,
                      trig=triggers(["a.io"], episode_id="a.io#2", fired_at=later))  # fmt: skip
    assert new_episode.loc["a.io", "owner_name"] == "Ann"  # continuity, not round-robin
    assert new_episode.loc["a.io", "new_assignment"]


def test_most_urgent_trigger_is_served_first_when_capacity_is_short() -> None:
    reps = roster({"name": "Solo", "email": "solo@x.io", "role": "SDR", "weekly_capacity": 1})
    trig = pd.concat(
        [
            triggers(["low.io"], priority="low"),
            triggers(["hot.io"], priority="critical", trigger_id="enterprise_feature_interest"),
            triggers(["hot.io"], priority="medium", trigger_id="teammate_invited"),
        ]
    )
    out = run(accounts({"account_domain": "low.io", "score": 500}, {"account_domain": "hot.io"}),
              reps=reps, trig=trig)  # fmt: skip
    assert out["decision"].to_dict() == {"hot.io": "routed", "low.io": "queued"}
    assert out.loc["hot.io", "trigger_id"] == "enterprise_feature_interest"
    assert out.loc["hot.io", "sla_due_at"] == pd.Timestamp(AS_OF + timedelta(hours=22))


# -- holdout ---------------------------------------------------------------------------------
def test_holdout_share_on_10k_domains() -> None:
    domains = pd.Series([f"company{i}.example" for i in range(10_000)])
    share = in_holdout(domains, 0.10, "handoff-holdout-v1").mean()
    assert 0.09 <= share <= 0.11
    assert 0.24 <= in_holdout(domains, 0.25, "other-salt").mean() <= 0.26
    assert not in_holdout(domains, 0.0, "s").any()


def test_holdout_is_stable_across_runs_and_model_versions() -> None:
    assert holdout_bucket("Acme.com ", "s") == holdout_bucket("acme.com", "s")
    assert holdout_bucket("acme.com", "s") != holdout_bucket("acme.com", "t")
    acc = accounts(*[{"account_domain": f"h{i}.io"} for i in range(200)])
    config = cfg(holdout={"share": 0.2, "salt": "exp-1"})
    big = roster({"name": "Ann", "email": "ann@x.io", "role": "SDR", "weekly_capacity": 1000})
    one = run(acc, config=config, reps=big)
    held = set(one.index[one["decision"] == "holdout"])
    assert 20 <= len(held) <= 60
    assert (
        one.loc[list(held), "reason"]
        == "holdout arm (20% control): would be routed now; scored and recorded, not routed"
    ).all()
    # another day, other scores and tiers (another model version): the same arm
    rescored = acc.assign(score=lambda d: d["score"] * 3, tier="tier_1")
    later = AS_OF + timedelta(days=30)
    two = run(rescored, config=config, reps=big, as_of=later,
              trig=triggers(list(acc["account_domain"]), fired_at=later))  # fmt: skip
    assert set(two.index[two["decision"] == "holdout"]) == held
    # the holdout applies only to otherwise-routable accounts
    t4 = run(acc.assign(tier="tier_4"), config=config, reps=big)
    assert (t4["decision"] == "no_touch").all()


def test_holdout_is_drawn_from_the_accounts_reps_would_take() -> None:
    """With little capacity, the control arm comes from the same top of the priority order
    as the routed accounts (not from the whole queue), and takes no capacity."""
    acc = accounts(*[{"account_domain": f"h{i}.io", "score": 1000 - i} for i in range(200)])
    config = cfg(holdout={"share": 0.2, "salt": "exp-1"})
    small = roster({"name": "Ann", "email": "ann@x.io", "role": "SDR", "weekly_capacity": 10})
    out = run(acc, config=config, reps=small)
    order = out.assign(rank=out["score"].rank(ascending=False))
    routed = order[order["decision"] == "routed"]
    held = order[order["decision"] == "holdout"]
    assert len(routed) == 10 and 1 <= len(held) <= 8
    assert held["rank"].max() < routed["rank"].max()  # above the capacity cut-off
    assert (order.loc[order["rank"] > routed["rank"].max(), "decision"] == "queued").all()
    queued_held = order[order["reason"] == "queued: in the holdout arm once a rep has room"]
    assert len(queued_held) > 0


# -- configuration ----------------------------------------------------------------------------
def test_default_routing_and_roster_load() -> None:
    config, reps = load_routing(), load_roster()
    assert config.holdout.share == 0.10
    assert [s.name for s in config.segments] == ["enterprise", "mid_market", "smb"]
    assert {r.role for r in reps.reps} == {"SDR", "AE", "CSM"}


def test_routing_config_errors_name_file_and_key(tmp_path) -> None:
    bad = tmp_path / "routing.yaml"
    text = (DEFAULT_CONFIG_DIR / "routing.yaml").read_text()
    bad.write_text(
        text.replace("    motion: self_serve", "    motion: self_serve\n    when: {ref: nope}")
    )
    with pytest.raises(ConfigError) as err:
        load_routing(bad)
    msg = str(err.value)
    assert str(bad) in msg
    assert "segments: the last segment must be a catch-all (no 'when')" in msg
    assert "segments[2].when: unknown condition ref 'nope'" in msg

    bad.write_text(text.replace("share: 0.10", "share: 1.5"))
    with pytest.raises(ConfigError, match=r"holdout\.share: Input should be less than 1"):
        load_routing(bad)


def test_roster_errors_name_file_and_key(tmp_path) -> None:
    bad = tmp_path / "roster.yaml"
    bad.write_text(
        "reps:\n"
        "  - {name: A, email: a@x.io, role: SDR, weekly_capacity: 3}\n"
        "  - {name: B, email: A@X.IO, role: VP, weekly_capacity: -1}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_yaml_model(bad, Roster)
    msg = str(err.value)
    assert "reps[1].role: Input should be 'SDR', 'AE' or 'CSM'" in msg
    assert "reps[1].weekly_capacity: Input should be greater than or equal to 0" in msg
