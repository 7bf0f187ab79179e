"""Pulling outcomes back from Salesforce: the real simple-salesforce client against the sandbox
over HTTPS (queryAll, nextRecordsUrl paging), with the request log and simulated clock as the
referee."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from crm_sandbox.server import SandboxServer
from handoff.crm.base import TaskSpec, UpsertRecord
from handoff.crm.salesforce import SalesforceDestination
from handoff.outcomes.pull import pull_outcomes
from handoff.sync.mapping import load_mapping
from handoff.warehouse import Warehouse

MAPPING = load_mapping()
KEY = "Handoff_Account_Key__c"
TASK_KEY = MAPPING.task_key.salesforce
REJECT_OPTIONS = next(f for f in MAPPING.account.fields if f.source == "reject_reason").options
QUERY = "/services/data/v62.0/query"


@pytest.fixture
def dest(sandbox: SandboxServer) -> SalesforceDestination:
    destination = SalesforceDestination.connect(
        sandbox.base_url,
        sandbox.token,
        ca_bundle=sandbox.ca_bundle,
        backoff_initial=0.01,
        backoff_max=0.05,
    )
    destination.sf.session.headers["Connection"] = "close"
    destination.provision("Account", "Handoff", MAPPING.account.specs("salesforce"))
    return destination


@pytest.fixture(params=["duckdb", "postgres"])
def wh(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    url = ":memory:" if request.param == "duckdb" else request.getfixturevalue("pg_url")
    with Warehouse(url) as warehouse:
        yield warehouse


def accounts(dest: SalesforceDestination, n: int, start: int = 0) -> list[str]:
    results = dest.upsert(
        "Account",
        KEY,
        [UpsertRecord(f"co{i}.example", {"Name": f"Co {i}"}) for i in range(start, start + n)],
    )
    assert all(r.ok for r in results), results
    return [str(r.crm_id) for r in results]


def advance(sandbox: SandboxServer, **delta: float) -> None:
    sandbox.admin("POST", "clock/advance", delta)


def rows(wh: Warehouse, table: str) -> pd.DataFrame:
    return wh.query(f"SELECT * FROM {table} ORDER BY crm_id")


def log_index(sandbox: SandboxServer) -> int:
    return int(sandbox.admin("GET", "requests")["next_index"])


def queried(sandbox: SandboxServer, since: int) -> int:
    return sum(r["records"] or 0 for r in sandbox.requests(since=since, path=QUERY))


def test_watermark_advances_and_a_rerun_reads_only_what_changed(
    sandbox: SandboxServer, dest: SalesforceDestination, wh: Warehouse
) -> None:
    ids = accounts(dest, 20)
    advance(sandbox, hours=1)
    dest.sf.Account.update(ids[0], {"Name": "Anchor"})
    first = pull_outcomes(wh, dest, MAPPING)
    assert first.objects["account"].read == 20
    assert len(rows(wh, "crm_accounts")) == 20

    advance(sandbox, hours=1)
    for rid in ids[5:8]:
        dest.sf.Account.update(rid, {"Handoff_Disposition__c": "accepted"})
    before = log_index(sandbox)
    second = pull_outcomes(wh, dest, MAPPING)
    assert second.objects["account"].read == 4  # three changes + the anchor in the overlap
    assert queried(sandbox, before) == 4  # Account 4, Task 0, Opportunity 0
    table = rows(wh, "crm_accounts")
    assert len(table) == 20 and table["crm_id"].is_unique
    assert set(table.loc[table["disposition"] == "accepted", "crm_id"]) == set(ids[5:8])
    accepted_at = table.loc[table["disposition"] == "accepted", "disposition_at"]
    assert accepted_at.notna().all()

    before = log_index(sandbox)
    third = pull_outcomes(wh, dest, MAPPING)
    assert third.objects["account"].read == 3  # the overlap only
    assert third.objects["account"].watermark == second.objects["account"].watermark
    assert rows(wh, "crm_accounts")["disposition_at"].equals(table["disposition_at"])
    assert third.api_calls == len(sandbox.requests(since=before))


def test_paging_with_next_records_url(
    sandbox: SandboxServer, dest: SalesforceDestination, wh: Warehouse
) -> None:
    box = sandbox.sandbox
    store = box.api_named("salesforce").store  # type: ignore[union-attr]
    with box.ctx.lock:  # 2,500 Accounts written straight into the store: cheap set-up
        for i in range(2_500):
            store.create("Account", {"Name": f"Seed {i}", KEY: f"seed{i}.example"})
    before = log_index(sandbox)
    summary = pull_outcomes(wh, dest, MAPPING, kinds=("account",))
    assert summary.objects["account"].read == 2_500
    assert len(rows(wh, "crm_accounts")) == 2_500
    pages = sandbox.requests(since=before, path=QUERY)
    assert [p["records"] for p in pages] == [2_000, 500]  # queryAll, then its nextRecordsUrl


def test_late_change_below_the_watermark_is_read_without_duplicates(
    sandbox: SandboxServer, dest: SalesforceDestination, wh: Warehouse
) -> None:
    ids = accounts(dest, 10)
    pull_outcomes(wh, dest, MAPPING, kinds=("account",))
    mark = wh.scalar("SELECT watermark FROM pull_watermarks WHERE object = 'Account'")
    late = pd.Timestamp(mark).tz_localize(UTC) - pd.Timedelta(minutes=2)
    sandbox.admin("POST", "clock/set", {"now": late.isoformat()})
    dest.sf.Account.update(
        ids[3], {"Handoff_Disposition__c": "rejected", "Handoff_Reject_Reason__c": "bad_timing"}
    )
    summary = pull_outcomes(wh, dest, MAPPING, kinds=("account",))
    table = rows(wh, "crm_accounts").set_index("crm_id")
    assert len(table) == 10 and table.index.is_unique
    assert table.loc[ids[3], "disposition"] == "rejected"
    assert table.loc[ids[3], "reject_reason"] == "bad_timing"
    assert pd.Timestamp(summary.objects["account"].watermark) == pd.Timestamp(mark)


def test_deleted_and_merged_accounts(
    sandbox: SandboxServer, dest: SalesforceDestination, wh: Warehouse
) -> None:
    ids = accounts(dest, 4)
    tasks = [
        TaskSpec(f"ep-{i}", f"co{i}.example", f"Task {i}", "body", datetime(2030, 1, 1), None)
        for i in range(4)
    ]
    assert all(r.ok for r in dest.create_tasks(tasks, TASK_KEY))
    pull_outcomes(wh, dest, MAPPING)
    advance(sandbox, hours=1)
    dest.sf.Account.delete(ids[3])
    sandbox.admin(
        "POST", "salesforce/merge", {"object": "Account", "master": ids[0], "losers": [ids[1]]}
    )
    summary = pull_outcomes(wh, dest, MAPPING)
    table = rows(wh, "crm_accounts").set_index("crm_id")
    assert len(table) == 4
    assert bool(table.loc[ids[1], "is_deleted"]) and table.loc[ids[1], "merged_into"] == ids[0]
    assert bool(table.loc[ids[3], "is_deleted"]) and pd.isna(table.loc[ids[3], "merged_into"])
    assert table.loc[ids[3], "deleted_at"] is not None
    assert not table.loc[ids[0], "is_deleted"]
    # the merge moved the loser's task to the master (Task 3 stays on its deleted Account)
    task_rows = rows(wh, "crm_tasks").set_index("task_key")
    assert task_rows.loc["ep-1", "account_crm_id"] == ids[0]
    assert summary.objects["task"].read >= 1
    before = log_index(sandbox)
    again = pull_outcomes(wh, dest, MAPPING)
    assert len(rows(wh, "crm_accounts")) == 4 and len(rows(wh, "crm_tasks")) == 4
    assert again.api_calls == len(sandbox.requests(since=before))


def test_tasks_and_opportunities_from_simulated_reps(
    sandbox: SandboxServer, dest: SalesforceDestination, wh: Warehouse
) -> None:
    accounts(dest, 12)
    tasks = [
        TaskSpec(f"ep-{i}", f"co{i}.example", f"Task {i}", "body", datetime(2030, 1, 1), None)
        for i in range(12)
    ]
    assert all(r.ok for r in dest.create_tasks(tasks, TASK_KEY))
    pull_outcomes(wh, dest, MAPPING)
    summary = sandbox.admin("POST", "reps/run", {"days": 60, "step_hours": 6})
    advance(sandbox, minutes=10)
    pull_outcomes(wh, dest, MAPPING, now=datetime.now(UTC) + timedelta(days=60))
    task_rows = rows(wh, "crm_tasks")
    assert len(task_rows) == 12 and task_rows["is_completed"].all()
    assert task_rows["completed_at"].notna().all()
    assert set(task_rows["task_key"]) == {f"ep-{i}" for i in range(12)}
    accts = rows(wh, "crm_accounts").set_index("crm_id")
    assert (accts["disposition"] == "accepted").sum() == summary["accepted"]
    rejected = accts[accts["disposition"] == "rejected"]
    assert len(rejected) == summary["rejected"] > 0 and rejected["reject_reason"].notna().all()
    assert set(rejected["reject_reason"]) <= set(REJECT_OPTIONS)  # the restricted picklist
    opps = rows(wh, "crm_deals")
    assert len(opps) == summary["accepted"] and opps["is_closed"].all()
    assert int(opps["is_won"].sum()) == summary["won"]
    assert opps["account_crm_id"].isin(accts.index).all()
