"""build_handoff_outcomes on fixed data: routing decisions, pulled CRM rows and product events
in DuckDB, one row per handoff out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from handoff.outcomes.handoffs import build_handoff_outcomes
from handoff.outcomes.schema import HANDOFF_OUTCOME_COLUMNS
from handoff.outcomes.tables import ensure_tables, frame
from handoff.routing.run import ROUTING_DDL
from handoff.warehouse import Warehouse

T0 = datetime(2026, 10, 1, 9, 0)
NOW = datetime(2026, 11, 15)
H = timedelta(hours=1)
D = timedelta(days=1)


def decision(domain: str, as_of: datetime, kind: str, episode: str | None, **kw: Any) -> dict:
    row = {
        "as_of": as_of,
        "model_version": "m1",
        "account_domain": domain,
        "decision": kind,
        "segment": "mid_market",
        "expected_acv_low": 10_000.0,
        "expected_acv_high": 30_000.0,
        "owner_email": "rep@example.com" if kind == "routed" else None,
        "trigger_id": "pricing_intent",
        "sla_due_at": as_of + 4 * H,
        "episode_id": episode,
        "trigger_class": "intent",
        "trigger_fired_at": as_of - H,
        "tier": "tier_1",
        "score": 80.0,
        "new_assignment": kind == "routed",
        "assign_order": 1,
    }
    row.update(kw)
    return row


def insert(wh: Warehouse, table: str, rows: list[dict]) -> None:
    wh.insert_rows(table, frame(table, [{"destination": "hubspot", **r} for r in rows]))


@pytest.fixture(params=["duckdb", "postgres"])
def wh(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    url = ":memory:" if request.param == "duckdb" else request.getfixturevalue("pg_url")
    with Warehouse(url) as warehouse:
        wh = warehouse
        wh.execute(f"CREATE TABLE routing_decisions ({ROUTING_DDL})")
        decisions = pd.DataFrame(
            [
                # a.com: episode E1, routed (then "already routed" the next day), later E3
                decision("a.com", T0, "routed", "E1"),
                decision("a.com", T0 + D, "routed", "E1", new_assignment=False),
                decision("a.com", T0 + 20 * D, "routed", "E3"),
                # b.com: held out
                decision("b.com", T0, "holdout", "E2"),
                decision("b.com", T0 + D, "holdout", "E2"),
                # c.com: its company was merged into another one
                decision("c.com", T0, "routed", "E4"),
                # d.com: no episode (keyed by account and as_of), never synced
                decision("d.com", T0, "routed", None, trigger_fired_at=None),
                # queued and no_touch rows are not handoffs
                decision("e.com", T0, "queued", "E5", new_assignment=False),
                decision("f.com", T0, "no_touch", None, new_assignment=False),
            ]
        )
        decisions["assign_order"] = decisions["assign_order"].astype("Int64")
        wh.insert_rows("routing_decisions", decisions)
        ensure_tables(wh)
        fired = T0 - H
        insert(
            wh,
            "crm_accounts",
            [
                {
                    "crm_id": "A1",
                    "account_key": "a.com",
                    "disposition": "accepted",
                    "disposition_at": fired + 5 * H,
                    "is_deleted": False,
                },
                {
                    "crm_id": "C_old",
                    "account_key": "c.com",
                    "merged_into": "C_new",
                    "is_deleted": True,
                },
                {
                    "crm_id": "C_new",
                    "account_key": "c-group.com",
                    "disposition": "rejected",
                    "reject_reason": "not_icp",
                    "disposition_at": fired + 2 * D,
                    "is_deleted": False,
                },
            ],
        )
        insert(
            wh,
            "crm_tasks",
            [
                # a touch before the handoff does not count
                {
                    "crm_id": "t0",
                    "account_crm_id": "A1",
                    "is_completed": True,
                    "completed_at": fired - D,
                    "is_deleted": False,
                },
                {
                    "crm_id": "t1",
                    "task_key": "E1",
                    "account_crm_id": "A1",
                    "is_completed": True,
                    "completed_at": fired + 3 * H,
                    "is_deleted": False,
                },
                # E3's own task, touched late; another activity on the account came first
                {
                    "crm_id": "t3",
                    "task_key": "E3",
                    "account_crm_id": "A1",
                    "is_completed": True,
                    "completed_at": fired + 25 * D,
                    "is_deleted": False,
                },
                {
                    "crm_id": "t4",
                    "account_crm_id": "A1",
                    "is_completed": True,
                    "completed_at": fired + 21 * D,
                    "is_deleted": False,
                },
                # a deleted task does not count
                {
                    "crm_id": "t5",
                    "account_crm_id": "A1",
                    "is_completed": True,
                    "completed_at": fired + 20 * D + H,
                    "is_deleted": True,
                },
                # c.com's task still points at the merged-away company
                {
                    "crm_id": "t6",
                    "task_key": "E4",
                    "account_crm_id": "C_old",
                    "is_completed": True,
                    "completed_at": fired + 30 * H,
                    "is_deleted": False,
                },
            ],
        )
        insert(
            wh,
            "crm_deals",
            [
                {
                    "crm_id": "d0",
                    "account_crm_id": "A1",
                    "created_at": fired - 3 * D,
                    "is_closed": True,
                    "is_won": True,
                    "amount": 1.0,
                    "is_deleted": False,
                },
                {
                    "crm_id": "d1",
                    "account_crm_id": "A1",
                    "created_at": fired + 6 * H,
                    "is_closed": True,
                    "is_won": True,
                    "amount": 20_000.0,
                    "closed_at": fired + 15 * D,
                    "is_deleted": False,
                },
                {
                    "crm_id": "d2",
                    "account_crm_id": "A1",
                    "created_at": fired + 10 * D,
                    "is_closed": False,
                    "amount": 5_000.0,
                    "is_deleted": False,
                },
                {
                    "crm_id": "d4",
                    "account_crm_id": "C_new",
                    "created_at": fired + 3 * D,
                    "is_closed": True,
                    "is_won": False,
                    "amount": 9_000.0,
                    "closed_at": fired + 9 * D,
                    "is_deleted": False,
                },
            ],
        )
        wh.load_df(
            "users",
            pd.DataFrame(
                {
                    "user_id": ["u1", "u2", "u3"],
                    "email": ["ann@a.com", "bob@B.com", "cy@gmail.com"],
                }
            ),
        )
        wh.load_df(
            "events",
            pd.DataFrame(
                {
                    "user_id": ["u1", "u1", "u1", "u2", "u3"],
                    "event_name": [
                        "plan_upgraded",  # before the handoff
                        "plan_upgraded",  # after it
                        "session_started",
                        "plan_upgraded",
                        "plan_upgraded",
                    ],
                    "occurred_at": [
                        fired - D,
                        fired + 2 * D,
                        fired + 3 * D,
                        fired + 4 * D,
                        fired + D,
                    ],
                }
            ),
        )
        yield wh


def by_episode(out: pd.DataFrame) -> dict[str, dict]:
    return {
        (r["episode_id"] or f"{r['account_domain']}@{r['as_of']}"): r
        for r in out.to_dict("records")
    }


def test_one_row_per_handoff(wh: Warehouse) -> None:
    out = build_handoff_outcomes(wh, NOW)
    assert list(out.columns) == list(HANDOFF_OUTCOME_COLUMNS)
    assert sorted(out["episode_id"].fillna("-")) == ["-", "E1", "E2", "E3", "E4"]
    assert set(out["decision"]) == {"routed", "holdout"}
    stored = wh.query("SELECT * FROM handoff_outcomes")
    assert len(stored) == 5
    # idempotent: a rebuild replaces the table
    build_handoff_outcomes(wh, NOW)
    assert len(wh.query("SELECT * FROM handoff_outcomes")) == 5
    assert (out["observed_until"] == pd.Timestamp(NOW)).all()
    rows = by_episode(out)
    assert rows["E1"]["as_of"] == pd.Timestamp(T0)  # the first decision of the episode
    assert rows["E1"]["handed_off_at"] == pd.Timestamp(T0 - H)  # the trigger's fire time
    assert rows["E1"]["expected_acv"] == 20_000.0
    no_episode = out[out["episode_id"].isna()].iloc[0]
    assert no_episode["handed_off_at"] == pd.Timestamp(T0)  # no trigger time: as_of
    assert pd.isna(no_episode["destination"])  # never synced


def test_first_touch_and_first_opportunity_after_the_handoff(wh: Warehouse) -> None:
    rows = by_episode(build_handoff_outcomes(wh, NOW))
    fired = T0 - H
    e1 = rows["E1"]
    assert e1["destination"] == "hubspot"
    assert e1["first_touch_at"] == pd.Timestamp(fired + 3 * H)  # not the earlier touch
    assert e1["disposition"] == "accepted" and e1["disposition_at"] == pd.Timestamp(fired + 5 * H)
    assert e1["opportunity_id"] == "d1"  # not d0, opened before the handoff
    assert e1["opportunity_opened_at"] == pd.Timestamp(fired + 6 * H)
    assert bool(e1["won"]) and e1["amount"] == 20_000.0
    assert e1["closed_at"] == pd.Timestamp(fired + 15 * D)
    # the account's second handoff: credited only with what came after it
    e3 = rows["E3"]
    assert e3["first_touch_at"] == pd.Timestamp(fired + 21 * D)  # t4 before E3's own task
    assert pd.isna(e3["disposition"])  # set before E3: it belongs to E1
    assert pd.isna(e3["opportunity_id"])  # d2 opened between E1 and E3


def test_holdout_rows_get_only_what_the_crm_holds(wh: Warehouse) -> None:
    e2 = by_episode(build_handoff_outcomes(wh, NOW))["E2"]
    assert e2["decision"] == "holdout" and e2["owner_email"] is None
    for col in ("destination", "disposition", "first_touch_at", "opportunity_id", "won"):
        assert pd.isna(e2[col]), col
    # the product still tells whether the account converted by itself
    assert e2["self_serve_converted_at"] == pd.Timestamp(T0 - H + 4 * D)


def test_self_serve_conversion_counts_only_after_the_handoff(wh: Warehouse) -> None:
    rows = by_episode(build_handoff_outcomes(wh, NOW))
    assert rows["E1"]["self_serve_converted_at"] == pd.Timestamp(T0 - H + 2 * D)
    assert pd.isna(rows["E3"]["self_serve_converted_at"])  # nothing after T0 + 20 days
    assert pd.isna(rows["E4"]["self_serve_converted_at"])


def test_merged_account_is_followed_to_its_winner(wh: Warehouse) -> None:
    e4 = by_episode(build_handoff_outcomes(wh, NOW))["E4"]
    fired = T0 - H
    assert e4["disposition"] == "rejected" and e4["reject_reason"] == "not_icp"
    assert e4["first_touch_at"] == pd.Timestamp(fired + 30 * H)
    assert e4["opportunity_id"] == "d4" and pd.notna(e4["won"]) and not bool(e4["won"])
    assert pd.isna(e4["amount"])  # lost: no closed-won amount


def test_no_routing_decisions_gives_an_empty_table(tmp_path: Any) -> None:
    with Warehouse(tmp_path / "empty.duckdb") as wh:
        out = build_handoff_outcomes(wh, NOW)
        assert out.empty and list(out.columns) == list(HANDOFF_OUTCOME_COLUMNS)
        assert wh.has_table("handoff_outcomes")
