"""run_routing over a real (in-memory DuckDB) warehouse: inputs read from score_history,
account_features, firmographics and trigger_events; idempotent slice; history used."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from handoff.routing import Roster, load_routing, run_routing
from handoff.warehouse import Warehouse

AS_OF = datetime(2026, 11, 1)
VERSION = "m@1"
ROSTER = Roster.model_validate(
    {
        "reps": [
            {"name": "Ann", "email": "ann@x.io", "role": "SDR", "regions": ["NA"],
             "weekly_capacity": 1},
            {"name": "Dirk", "email": "dirk@x.io", "role": "SDR", "regions": ["EMEA"],
             "weekly_capacity": 5},
        ]
    }
)  # fmt: skip


def _warehouse(as_of: datetime) -> Warehouse:
    wh = Warehouse(":memory:")
    domains = ["na1.io", "na2.io", "de.io", "offfit.io", "old.io"]
    wh.load_df(
        "score_history",
        pd.DataFrame(
            {
                "as_of": as_of, "model_version": VERSION, "entity_type": "account",
                "entity_id": domains, "account_domain": domains,
                "score": [300.0, 200.0, 150.0, 150.0, 150.0], "status": "tier_2",
            }
        ),
    )  # fmt: skip
    wh.load_df(
        "account_features",
        pd.DataFrame(
            {
                "as_of": as_of, "account_domain": domains, "name": domains,
                "plan": "team", "seat_limit": 10, "users_total": 6,
                "employees": pd.array([120, 130, 140, 150, 160], dtype="Int32"),
                "industry": "SaaS",
            }
        ),
    )  # fmt: skip
    wh.load_df(
        "firmographics",
        pd.DataFrame(
            {
                "domain": ["de.io", "offfit.io", "na2.io"],
                "name": ["De", "Off", "Na2"],
                "employees": [300, 20, None],
                "industry": ["SaaS", "Retail", None],
                "country": ["Germany", "US", None],
                "annual_revenue": [1e7, 1e6, None],
                "status": ["found", "found", "unknown"],
                "fetched_at": as_of,
                "fit_tier": ["A", "C", "unknown"],
            }
        ),
    )
    return wh


def _triggers(wh: Warehouse, as_of: datetime, domains: list[str], age_days: float = 0.1) -> None:
    wh.load_df(
        "trigger_events",
        pd.DataFrame(
            {
                "account_domain": domains, "trigger_id": "teammate_invited",
                "episode_id": [f"{d}@{as_of:%m%d}" for d in domains],
                "fired_at": as_of - timedelta(days=age_days), "class": "expansion",
                "priority": "medium", "owner_role": "SDR", "channel": "email",
                "sla_due_at": as_of + timedelta(days=2), "evidence": "{}",
                "model_version": VERSION,
            }
        ),
    )  # fmt: skip


def test_run_routing_reads_the_warehouse_and_replaces_its_slice() -> None:
    config = load_routing().model_copy(update={"holdout": load_routing().holdout.model_copy(
        update={"share": 0.0})})  # fmt: skip
    wh = _warehouse(AS_OF)
    _triggers(wh, AS_OF, ["na1.io", "na2.io", "de.io", "offfit.io"])
    summary = run_routing(wh, AS_OF, VERSION, config=config, roster=ROSTER)
    first = wh.query("SELECT * FROM routing_decisions ORDER BY account_domain")
    d = first.set_index("account_domain")
    assert summary.decisions == {"routed": 2, "no_touch": 2, "queued": 1}
    assert d.loc["de.io", ["decision", "region", "owner_name", "country"]].tolist() == [
        "routed", "EMEA", "Dirk", "DE"]  # fmt: skip
    assert d.loc["na1.io", "owner_name"] == "Ann"  # highest score first
    assert d.loc["na2.io", "decision"] == "queued"  # Ann is full; unknown firmographics: NA
    assert d.loc["offfit.io", "reason"].startswith("poor_fit")
    assert d.loc["old.io", "reason"] == "no open trigger episode"
    assert (first["model_version"] == VERSION).all()

    run_routing(wh, AS_OF, VERSION, config=config, roster=ROSTER)
    pd.testing.assert_frame_equal(
        first, wh.query("SELECT * FROM routing_decisions ORDER BY account_domain")
    )

    # a week and a day later Ann has room again; na2 is retried from the queue
    later = AS_OF + timedelta(days=8)
    wh.execute(f"UPDATE score_history SET as_of = TIMESTAMP '{later}'")
    wh.execute(f"UPDATE account_features SET as_of = TIMESTAMP '{later}'")
    _triggers(wh, later, [])
    run_routing(wh, later, VERSION, config=config, roster=ROSTER)
    nxt = wh.query(f"SELECT * FROM routing_decisions WHERE as_of = TIMESTAMP '{later}'").set_index(
        "account_domain"
    )
    assert nxt.loc["na2.io", ["decision", "owner_name"]].tolist() == ["routed", "Ann"]
    assert wh.scalar("SELECT count(*) FROM routing_decisions") == 10
    wh.close()
