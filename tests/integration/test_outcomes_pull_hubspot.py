"""Pulling outcomes back from HubSpot: the real hubspot-api-client against the sandbox over
HTTPS, with the sandbox's request log and simulated clock as the referee."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import requests

from crm_sandbox.hubspot.schema import format_datetime
from crm_sandbox.hubspot.store import WritePlan
from crm_sandbox.server import SandboxServer
from handoff.crm.base import TaskSpec, UpsertRecord
from handoff.crm.hubspot import HubSpotDestination
from handoff.outcomes.pull import pull_outcomes
from handoff.sync.mapping import load_mapping
from handoff.warehouse import Warehouse

MAPPING = load_mapping()
KEY = "handoff_account_key"
TASK_KEY = MAPPING.task_key.hubspot
REJECT_OPTIONS = next(f for f in MAPPING.account.fields if f.source == "reject_reason").options
SEARCH = "/crm/v3/objects/companies/search"


@pytest.fixture
def dest(sandbox: SandboxServer) -> Iterator[HubSpotDestination]:
    destination = HubSpotDestination(
        sandbox.token,
        host=sandbox.base_url,
        ca_bundle=sandbox.ca_bundle,
        backoff_initial=0.01,
        backoff_max=0.05,
    )
    destination.provision("companies", "handoff", MAPPING.account.specs("hubspot"))
    yield destination
    destination.close()


@pytest.fixture
def wh() -> Iterator[Warehouse]:
    with Warehouse(":memory:") as warehouse:
        yield warehouse


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    session.verify = sandbox.ca_bundle
    session.headers["Authorization"] = f"Bearer {sandbox.token}"
    session.headers["Connection"] = "close"
    yield session
    session.close()


def companies(dest: HubSpotDestination, n: int, start: int = 0, **extra: Any) -> list[str]:
    results = dest.upsert(
        "companies",
        KEY,
        [
            UpsertRecord(f"co{i}.example", {"name": f"Co {i}", **extra})
            for i in range(start, start + n)
        ],
    )
    assert all(r.ok for r in results)
    return [str(r.crm_id) for r in results]


def advance(sandbox: SandboxServer, **delta: float) -> None:
    sandbox.admin("POST", "clock/advance", delta)


def crm_now(sandbox: SandboxServer) -> datetime:
    return datetime.fromisoformat(sandbox.admin("GET", "clock")["now"])


def patch_company(http: requests.Session, sandbox: SandboxServer, cid: str, props: dict) -> None:
    url = f"{sandbox.base_url}/crm/v3/objects/companies/{cid}"
    http.patch(url, json={"properties": props}).raise_for_status()


def rows(wh: Warehouse, table: str) -> pd.DataFrame:
    return wh.query(f"SELECT * FROM {table} ORDER BY crm_id")


def searched_records(sandbox: SandboxServer, since: int, path: str = SEARCH) -> int:
    return sum(r["records"] or 0 for r in sandbox.requests(since=since, path=path))


def log_index(sandbox: SandboxServer) -> int:
    return int(sandbox.admin("GET", "requests")["next_index"])


def test_watermark_advances_and_a_rerun_reads_only_what_changed(
    sandbox: SandboxServer, dest: HubSpotDestination, wh: Warehouse, http: requests.Session
) -> None:
    ids = companies(dest, 20)
    advance(sandbox, hours=1)
    patch_company(http, sandbox, ids[0], {"name": "Anchor"})  # the newest change: watermark

    first = pull_outcomes(wh, dest, MAPPING)
    assert first.objects["account"].read == 20
    assert len(rows(wh, "crm_accounts")) == 20
    mark = wh.scalar(
        "SELECT watermark FROM pull_watermarks WHERE destination = 'hubspot' "
        "AND object = 'companies'"
    )
    anchor = wh.scalar(f"SELECT modified_at FROM crm_accounts WHERE crm_id = '{ids[0]}'")
    assert pd.Timestamp(mark) == pd.Timestamp(anchor)

    advance(sandbox, hours=1)
    for cid in ids[5:8]:
        patch_company(http, sandbox, cid, {"handoff_disposition": "accepted"})
    before = log_index(sandbox)
    second = pull_outcomes(wh, dest, MAPPING)
    # the three changes, plus the anchor inside the 5-minute overlap below the watermark
    assert second.objects["account"].read == 4
    # the log agrees: the window's pages plus the one-record probe for the window's top
    assert searched_records(sandbox, before) == 4 + 1
    table = rows(wh, "crm_accounts")
    assert len(table) == 20 and table["crm_id"].is_unique
    assert set(table.loc[table["disposition"] == "accepted", "crm_id"]) == set(ids[5:8])
    assert pd.Timestamp(second.objects["account"].watermark) > pd.Timestamp(mark)

    # nothing changed: only the overlap is read again, and rows stay as they are
    before = log_index(sandbox)
    third = pull_outcomes(wh, dest, MAPPING)
    assert third.objects["account"].read == 3
    assert third.objects["account"].watermark == second.objects["account"].watermark
    after = rows(wh, "crm_accounts")
    assert len(after) == 20
    assert after["disposition"].equals(table["disposition"])
    assert after["disposition_at"].equals(table["disposition_at"])
    assert third.api_calls == len(sandbox.requests(since=before))


def test_disposition_time_comes_from_property_history(
    sandbox: SandboxServer, dest: HubSpotDestination, wh: Warehouse, http: requests.Session
) -> None:
    (cid,) = companies(dest, 1)
    advance(sandbox, hours=1)
    patch_company(
        http, sandbox, cid, {"handoff_disposition": "rejected", "handoff_reject_reason": "not_icp"}
    )
    set_at = crm_now(sandbox)
    advance(sandbox, hours=5)
    patch_company(http, sandbox, cid, {"name": "Renamed later"})  # moves hs_lastmodifieddate
    pull_outcomes(wh, dest, MAPPING)
    row = rows(wh, "crm_accounts").iloc[0]
    assert row["disposition"] == "rejected" and row["reject_reason"] == "not_icp"
    assert abs(pd.Timestamp(row["disposition_at"]) - pd.Timestamp(set_at).tz_localize(None)) < (
        pd.Timedelta(seconds=2)
    )
    reads = sandbox.requests(path="/crm/v3/objects/companies/batch/read")
    assert len(reads) == 1  # the history read, only for the changed disposition
    # unchanged disposition: the stored time is kept, no history read
    advance(sandbox, hours=1)
    patch_company(http, sandbox, cid, {"name": "Renamed again"})
    before = log_index(sandbox)
    pull_outcomes(wh, dest, MAPPING)
    assert sandbox.requests(since=before, path="/crm/v3/objects/companies/batch/read") == []
    assert rows(wh, "crm_accounts").iloc[0]["disposition_at"] == row["disposition_at"]


def seed_companies(sandbox: SandboxServer, n: int, modified: datetime | None = None) -> None:
    """n companies written straight into the sandbox store (cheap set-up for the cap); with
    `modified`, all of them share that exact hs_lastmodifieddate."""
    box = sandbox.sandbox
    store = box.api_named("hubspot").store  # type: ignore[union-attr]
    with box.ctx.lock:
        for i in range(n):
            record, _ = store.apply(
                "companies", WritePlan("create", {"name": f"Seed {i}", KEY: f"seed{i}.example"})
            )
            if modified is not None:
                record.properties["hs_lastmodifieddate"] = format_datetime(modified)
        box.ctx.mark_dirty()


def test_search_cap_is_worked_around_over_ten_thousand_changes(
    sandbox: SandboxServer, dest: HubSpotDestination, wh: Warehouse
) -> None:
    """10,050 changed companies (the real 10,000-result cap of search): 1,000 of them share
    one timestamp right where the first query hits the cap."""
    start = crm_now(sandbox)
    seed_companies(sandbox, 9_500)
    tie = crm_now(sandbox) + timedelta(seconds=1)
    seed_companies(sandbox, 1_000, modified=tie)
    advance(sandbox, seconds=2)
    seed_companies(sandbox, 50)
    summary = pull_outcomes(wh, dest, MAPPING, kinds=("account",))
    assert summary.objects["account"].read == 10_550
    table = rows(wh, "crm_accounts")
    assert len(table) == 10_550 and table["crm_id"].is_unique
    assert pd.Timestamp(summary.objects["account"].watermark) >= pd.Timestamp(start).tz_localize(
        None
    )
    pages = sandbox.requests(path=SEARCH)
    assert all(r["status"] == 200 for r in pages)  # never past the cap, never over the limit
    assert len(pages) <= 10_550 // 200 + 8


def test_ties_wider_than_the_cap_are_read_once(
    sandbox: SandboxServer, dest: HubSpotDestination, wh: Warehouse
) -> None:
    """The sandbox's cap made small (hubspot_max_search_results, the same rule as HubSpot's
    10,000): 130 records of one timestamp drain by id in capped windows."""
    sandbox.admin("PATCH", "settings", {"hubspot_max_search_results": 50})
    seed_companies(sandbox, 30)
    seed_companies(sandbox, 130, modified=crm_now(sandbox) + timedelta(seconds=1))
    advance(sandbox, seconds=2)
    seed_companies(sandbox, 25)
    summary = pull_outcomes(wh, dest, MAPPING, kinds=("account",), search_cap=50, page_size=20)
    assert summary.objects["account"].read == 185
    table = rows(wh, "crm_accounts")
    assert len(table) == 185 and table["crm_id"].is_unique
    assert all(r["status"] == 200 for r in sandbox.requests(path=SEARCH))


def test_late_change_below_the_watermark_is_read_without_duplicates(
    sandbox: SandboxServer, dest: HubSpotDestination, wh: Warehouse, http: requests.Session
) -> None:
    ids = companies(dest, 10)
    pull_outcomes(wh, dest, MAPPING, kinds=("account",))
    mark = wh.scalar("SELECT watermark FROM pull_watermarks WHERE object = 'companies'")
    # a change committed late, stamped 2 minutes before the watermark (inside the overlap)
    late = pd.Timestamp(mark).tz_localize(UTC) - pd.Timedelta(minutes=2)
    sandbox.admin("POST", "clock/set", {"now": late.isoformat()})
    patch_company(http, sandbox, ids[3], {"handoff_disposition": "accepted"})
    summary = pull_outcomes(wh, dest, MAPPING, kinds=("account",))
    table = rows(wh, "crm_accounts")
    assert len(table) == 10 and table["crm_id"].is_unique
    assert table.set_index("crm_id").loc[ids[3], "disposition"] == "accepted"
    # the watermark never moves backwards
    assert pd.Timestamp(summary.objects["account"].watermark) == pd.Timestamp(mark)
    # the same late change with no overlap is missed: the lag is what makes it safe
    wh.execute("DELETE FROM crm_accounts")
    wh.execute("DELETE FROM pull_watermarks")
    pull_outcomes(wh, dest, MAPPING, kinds=("account",))
    mark = wh.scalar("SELECT watermark FROM pull_watermarks WHERE object = 'companies'")
    sandbox.admin(
        "POST",
        "clock/set",
        {"now": (pd.Timestamp(mark).tz_localize(UTC) - pd.Timedelta(minutes=2)).isoformat()},
    )
    patch_company(http, sandbox, ids[4], {"handoff_disposition": "rejected"})
    pull_outcomes(wh, dest, MAPPING, kinds=("account",), lag=timedelta(0))
    assert pd.isna(rows(wh, "crm_accounts").set_index("crm_id").loc[ids[4], "disposition"])


def test_archived_and_merged_companies(
    sandbox: SandboxServer, dest: HubSpotDestination, wh: Warehouse, http: requests.Session
) -> None:
    ids = companies(dest, 4)
    patch_company(http, sandbox, ids[1], {"handoff_disposition": "accepted"})
    pull_outcomes(wh, dest, MAPPING, kinds=("account",))
    advance(sandbox, hours=1)
    http.delete(f"{sandbox.base_url}/crm/v3/objects/companies/{ids[3]}").raise_for_status()
    merged = dest.client.crm.companies.basic_api.merge(
        public_merge_input={"primaryObjectId": ids[0], "objectIdToMerge": ids[1]}
    )
    winner = str(merged.id)
    assert winner not in ids  # HubSpot merges into a new record
    summary = pull_outcomes(wh, dest, MAPPING, kinds=("account",))
    table = rows(wh, "crm_accounts").set_index("crm_id")
    # the new record, the archived one, and co2 (untouched, inside the overlap)
    assert len(table) == 5 and summary.objects["account"].read == 3
    assert table.loc[ids[0], "merged_into"] == winner
    assert table.loc[ids[1], "merged_into"] == winner
    assert table.loc[ids[1], "account_key"] == "co1.example"  # kept from the earlier pull
    assert bool(table.loc[ids[3], "is_deleted"]) and table.loc[ids[3], "deleted_at"] is not None
    assert table.loc[winner, "account_key"] == "co0.example"  # the primary's values win
    assert table.loc[winner, "disposition"] == "accepted"  # filled from the merged record
    # a rerun changes nothing
    again = pull_outcomes(wh, dest, MAPPING, kinds=("account",))
    # (the overlap re-reads the merged record and the archived one: same rows again)
    assert len(rows(wh, "crm_accounts")) == 5 and again.objects["account"].read == 2
    assert rows(wh, "crm_accounts")["pulled_at"].notna().all()


def test_tasks_and_deals_from_simulated_reps(
    sandbox: SandboxServer, dest: HubSpotDestination, wh: Warehouse
) -> None:
    companies(dest, 12)
    due = datetime(2030, 1, 1)
    tasks = [
        TaskSpec(f"ep-{i}", f"co{i}.example", f"Task {i}", "body", due, None, "LOW")
        for i in range(12)
    ]
    assert all(r.ok for r in dest.create_tasks(tasks, TASK_KEY))
    first = pull_outcomes(wh, dest, MAPPING)
    assert first.objects["task"].read == 12
    summary = sandbox.admin("POST", "reps/run", {"days": 60, "step_hours": 6})
    second = pull_outcomes(wh, dest, MAPPING)
    assert second.objects["task"].read == 12
    task_rows = rows(wh, "crm_tasks")
    assert len(task_rows) == 12 and task_rows["is_completed"].all()
    assert task_rows["completed_at"].notna().all()
    assert set(task_rows["task_key"]) == {f"ep-{i}" for i in range(12)}
    accounts = rows(wh, "crm_accounts").set_index("crm_id")
    assert set(task_rows["account_crm_id"]) <= set(accounts.index)
    assert (accounts["disposition"] == "accepted").sum() == summary["accepted"]
    reasons = accounts.loc[accounts["disposition"] == "rejected", "reject_reason"]
    assert len(reasons) == summary["rejected"] > 0 and reasons.notna().all()
    assert set(reasons) <= set(REJECT_OPTIONS)  # the enumeration accepted the reps' reasons
    deal_rows = rows(wh, "crm_deals")
    assert len(deal_rows) == summary["accepted"]
    assert deal_rows["is_closed"].all()
    assert int(deal_rows["is_won"].sum()) == summary["won"]
    assert deal_rows["account_crm_id"].isin(accounts.index).all()
    # idempotent: a rerun leaves the same rows
    pull_outcomes(wh, dest, MAPPING)
    assert len(rows(wh, "crm_tasks")) == 12 and len(rows(wh, "crm_deals")) == len(deal_rows)
