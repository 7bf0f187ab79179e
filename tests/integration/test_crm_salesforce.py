"""The Salesforce adapter against the local CRM sandbox: the real simple-salesforce client over
HTTPS, with the sandbox's request log, fault injection and daily limit as the referee."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from crm_sandbox.server import SandboxServer
from handoff.crm.base import CrmError, FieldSpec, TaskSpec, UpsertRecord
from handoff.crm.salesforce import SalesforceDestination

KEY = "Handoff_Account_Key__c"
TASK_KEY = "Handoff_Episode_Key__c"
COMPOSITE = "/services/data/v62.0/composite/sobjects/Account"
BULK = "/services/data/v62.0/jobs/ingest"
ACCOUNT_FIELDS = [
    FieldSpec(KEY, "Handoff account key", "string", unique=True, length=80),
    FieldSpec("Handoff_PQA_Score__c", "PQA score", "number"),
    FieldSpec("Handoff_PQA_Tier__c", "PQA tier", "enumeration", options=("tier_1", "tier_2")),
    FieldSpec("Handoff_Trigger__c", "Trigger", "string", length=20),
    FieldSpec("Handoff_Context_Package__c", "Context package", "text", length=32000),
    FieldSpec("Handoff_Holdout__c", "Holdout", "bool"),
    FieldSpec("Handoff_Scored_At__c", "Scored as of", "datetime"),
]


def make_destination(server: SandboxServer, token: str | None = None, **options: Any):
    options = {"backoff_initial": 0.01, "backoff_max": 0.05, "bulk_poll_seconds": 0.02} | options
    dest = SalesforceDestination.connect(
        server.base_url, token or server.token, ca_bundle=server.ca_bundle, **options
    )
    # no idle keep-alive connections left behind when the module's sandbox stops
    dest.sf.session.headers["Connection"] = "close"
    return dest


@pytest.fixture
def dest(sandbox: SandboxServer) -> SalesforceDestination:
    """A destination on a fresh sandbox with the Account fields provisioned."""
    destination = make_destination(sandbox)
    destination.provision("Account", "Handoff", ACCOUNT_FIELDS)
    sandbox.admin("DELETE", "requests")
    return destination


def accounts(n: int, prefix: str = "acct", **extra: Any) -> list[UpsertRecord]:
    return [
        UpsertRecord(
            f"{prefix}{i}.example.com",
            {
                "Name": f"{prefix.title()} {i}",
                "Handoff_PQA_Score__c": i + 0.5,
                "Handoff_PQA_Tier__c": "tier_1" if i % 2 else "tier_2",
                "Handoff_Holdout__c": i % 3 == 0,
                "Handoff_Scored_At__c": datetime(2026, 11, 1, 6, 0),
                **extra,
            },
        )
        for i in range(n)
    ]


def count(dest: SalesforceDestination, obj: str) -> int:
    return dest.sf.query(f"SELECT COUNT() FROM {obj}")["totalSize"]


def test_provision_is_idempotent(sandbox: SandboxServer) -> None:
    dest = make_destination(sandbox)
    first = dest.provision("Account", "Handoff", ACCOUNT_FIELDS)
    assert first.created == [f.name for f in ACCOUNT_FIELDS] and first.existing == []
    described = {f["name"]: f for f in dest.sf.Account.describe()["fields"]}
    assert described[KEY]["externalId"] and described[KEY]["unique"]
    assert described["Handoff_PQA_Tier__c"]["type"] == "picklist"
    assert described["Handoff_Context_Package__c"]["length"] == 32000
    assert described["Handoff_PQA_Score__c"]["type"] == "double"

    since = sandbox.admin("GET", "requests")["next_index"]
    second = dest.provision("Account", "Handoff", ACCOUNT_FIELDS)
    assert second.created == [] and second.existing == [f.name for f in ACCOUNT_FIELDS]
    log = sandbox.requests(since=since)
    assert [r["method"] for r in log] == ["GET"]  # one Tooling query, nothing created
    with pytest.raises(ValueError, match="__c"):
        dest.provision("Account", "Handoff", [FieldSpec("Bad", "Bad", "string")])


def test_upsert_creates_then_updates_200_per_call(
    sandbox: SandboxServer, dest: SalesforceDestination
) -> None:
    records = accounts(450)
    calls = dest.api_calls
    first = dest.upsert("Account", KEY, records)
    assert [r.key for r in first] == [r.key for r in records]
    assert all(r.ok and r.created for r in first)
    log = sandbox.requests(path=COMPOSITE, method="PATCH")
    assert [r["records"] for r in log] == [200, 200, 50]
    assert dest.api_calls - calls == 3

    second = dest.upsert("Account", KEY, accounts(450))
    assert all(r.ok and r.created is False for r in second)
    assert [r.crm_id for r in second] == [r.crm_id for r in first]
    assert count(dest, "Account") == 450

    got = dest.read(
        "Account", KEY, ["ACCT7.example.com", "nobody.example.com"], ["Name", "Handoff_Holdout__c"]
    )
    assert got == {"ACCT7.example.com": {"Name": "Acct 7", "Handoff_Holdout__c": False}}


def test_per_record_failures_fail_only_that_record(
    sandbox: SandboxServer, dest: SalesforceDestination
) -> None:
    records = accounts(40)
    records[5] = UpsertRecord(records[5].key, {"Name": "Long", "Handoff_Trigger__c": "x" * 50})
    sandbox.admin("PUT", "faults", json={"record_fail_rate": 0.1, "seed": 3})
    results = dest.upsert("Account", KEY, records)
    assert len(results) == 40
    assert "STRING_TOO_LONG" in (results[5].error or "") and not results[5].ok
    injected = [r for r in results if r.error and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in r.error]
    assert injected, "the seed should fail at least one record"
    failed = {r.key for r in results if not r.ok}
    assert failed == {results[5].key} | {r.key for r in injected}
    assert all(r.ok and r.crm_id for r in results if r.key not in failed)
    assert len(sandbox.requests(path=COMPOSITE, method="PATCH")) == 1
    stored = dest.read("Account", KEY, [r.key for r in records], ["Name"])
    assert set(stored) == {r.key for r in records} - failed


def test_malformed_record_is_isolated_by_splitting(
    sandbox: SandboxServer, dest: SalesforceDestination
) -> None:
    """A value of the wrong JSON type fails the whole Collections call (JSON_PARSER_ERROR):
    the adapter halves the batch until the bad record stands alone."""
    records = accounts(20)
    records[13] = UpsertRecord(records[13].key, {"Name": "Bad", "Handoff_PQA_Score__c": "abc"})
    results = dest.upsert("Account", KEY, records)
    assert [r.key for r in results if not r.ok] == [records[13].key]
    assert (results[13].error or "").startswith("JSON_PARSER_ERROR: ")
    assert len(sandbox.requests(path=COMPOSITE)) <= 2 * 5 + 1  # log2(20) levels, 2 calls each
    assert count(dest, "Account") == 19


def test_quotes_in_keys_are_escaped(dest: SalesforceDestination) -> None:
    odd = ["o'brien.example.com", 'quote"d.example.com', "back\\slash.example.com"]
    results = dest.upsert("Account", KEY, [UpsertRecord(k, {"Name": k}) for k in odd])
    assert all(r.ok for r in results)
    got = dest.read("Account", KEY, [*odd, "x' OR Name != '"], ["Name"])
    assert got == {k: {"Name": k} for k in odd}


def test_bulk_above_threshold(sandbox: SandboxServer, dest: SalesforceDestination) -> None:
    dest.bulk_threshold = 50
    records = accounts(120, Handoff_Trigger__c="usage_spike")
    records[7] = UpsertRecord(records[7].key, {"Name": "Long", "Handoff_Trigger__c": "y" * 40})
    sandbox.admin("PUT", "faults", json={"record_fail_rate": 0.05, "seed": 5})
    first = dest.upsert("Account", KEY, records)
    assert [r.key for r in first] == [r.key for r in records]
    assert not sandbox.requests(path=COMPOSITE)
    assert sandbox.requests(path=BULK, method="POST")
    assert not first[7].ok and "STRING_TOO_LONG" in (first[7].error or "")
    injected = [r for r in first if r.error and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in r.error]
    assert injected
    assert all(r.ok and r.created and r.crm_id for r in first if r.error is None)

    # rerun without faults: the failed ones are created, the rest updated; None clears a field
    sandbox.admin("PUT", "faults", json={})
    again = accounts(120, Handoff_Trigger__c=None)
    second = dest.upsert("Account", KEY, again)
    assert all(r.ok for r in second)
    created = {r.key for r in second if r.created}
    assert created == {r.key for r in first if not r.ok}
    assert count(dest, "Account") == 120
    got = dest.read("Account", KEY, [records[0].key], ["Handoff_Trigger__c"])
    assert got[records[0].key]["Handoff_Trigger__c"] is None


def test_transient_faults_are_retried_without_loss_or_duplicates(
    sandbox: SandboxServer, dest: SalesforceDestination
) -> None:
    faults = {
        "rate_5xx": 0.25,
        "rate_429": 0.25,  # answered as Salesforce's 403 REQUEST_LIMIT_EXCEEDED (concurrent)
        "rate_drop": 0.25,  # the connection closes without an answer
        "max_faults": 8,
        "path_prefix": "/services/data/v62.0/composite",
        "seed": 4,
    }
    sandbox.admin("PUT", "faults", json=faults)
    since = sandbox.admin("GET", "requests")["next_index"]
    calls = dest.api_calls
    results = dest.upsert("Account", KEY, accounts(600))
    assert all(r.ok for r in results) and len(results) == 600
    assert set(sandbox.admin("GET", "faults")["injected"]) == {"5xx", "429", "drop"}
    log = sandbox.requests(since=since)
    statuses = {r["status"] for r in log}
    assert {0, 403, 200} <= statuses and any(s >= 500 for s in statuses)
    assert dest.api_calls - calls == len(log)  # retries and dropped connections counted
    sandbox.admin("PUT", "faults", json={})
    assert count(dest, "Account") == 600

    # Bulk API 2.0 under 5xx: the job is retried, the results come back complete
    dest.bulk_threshold = 50
    sandbox.admin(
        "PUT", "faults", json={"rate_5xx": 0.5, "max_faults": 3, "path_prefix": BULK, "seed": 4}
    )
    bulk = dest.upsert("Account", KEY, accounts(80, prefix="bulk"))
    assert sandbox.admin("GET", "faults")["injected"] == {"5xx": 3}
    assert all(r.ok for r in bulk) and len(bulk) == 80
    sandbox.admin("PUT", "faults", json={})
    assert count(dest, "Account") == 680


def test_gives_up_after_max_retries(sandbox: SandboxServer, dest: SalesforceDestination) -> None:
    dest.max_retries = 2
    sandbox.admin("PUT", "faults", json={"rate_5xx": 1.0, "path_prefix": COMPOSITE})
    with pytest.raises(CrmError) as caught:
        dest.upsert("Account", KEY, accounts(3))
    assert caught.value.retryable
    assert len(sandbox.requests(path=COMPOSITE)) == 3


def test_daily_allowance_spent_raises(sandbox: SandboxServer, dest: SalesforceDestination) -> None:
    sandbox.admin("PATCH", "settings", json={"salesforce_daily_limit": 0})
    fresh = make_destination(sandbox)
    with pytest.raises(CrmError, match="daily API allowance spent") as caught:
        fresh.upsert("Account", KEY, accounts(3))
    assert not caught.value.retryable and caught.value.status == 403
    assert len(sandbox.requests(path=COMPOSITE)) == 1  # not retried


def test_paces_from_limit_header(sandbox: SandboxServer, dest: SalesforceDestination) -> None:
    sandbox.admin("PATCH", "settings", json={"salesforce_daily_limit": 30})
    dest.api_reserve = 5
    since = sandbox.admin("GET", "requests")["next_index"]
    with pytest.raises(CrmError, match="nearly spent"):
        for i in range(40):
            dest.upsert("Account", KEY, accounts(1, prefix=f"p{i}-"))
    used, total = dest.api_usage or (0, 0)
    assert total == 30 and total - used == 5
    assert all(r["status"] == 200 for r in sandbox.requests(since=since))


def test_tasks_created_once_per_key(sandbox: SandboxServer, dest: SalesforceDestination) -> None:
    dest.upsert("Account", KEY, accounts(2))
    owners = dest.owners()
    rep = "Avery.Chen@example.com"
    assert rep.lower() in owners and "integration@example.com" in owners
    inactive = dest.sf.query("SELECT Email FROM User WHERE IsActive = FALSE")["records"]
    assert inactive and not {u["Email"].lower() for u in inactive} & set(owners)
    due = datetime(2026, 11, 20, 15, 30)
    tasks = [
        TaskSpec("ep-1", "acct0.example.com", "Call Acct 0", "why now", due, rep, "HIGH"),
        TaskSpec("ep-2", "ACCT1.example.com", "Call Acct 1", "body", due, "nobody@x.com", "LOW"),
        TaskSpec("ep-3", "missing.example.com", "Call", "body", due, rep),
    ]
    first = dest.create_tasks(tasks, TASK_KEY)
    assert [r.ok for r in first] == [True, True, False] and first[0].created
    assert "missing.example.com" in (first[2].error or "")
    rows = {
        r[TASK_KEY]: r
        for r in dest.sf.query_all(
            f"SELECT {TASK_KEY}, WhatId, OwnerId, Subject, Status, Priority, ActivityDate FROM Task"
        )["records"]
    }
    account_ids = dest.read("Account", KEY, ["acct0.example.com"], ["Id"])
    assert rows["ep-1"]["WhatId"] == account_ids["acct0.example.com"]["Id"]
    assert rows["ep-1"]["OwnerId"] == owners[rep.lower()]
    assert rows["ep-1"]["Priority"] == "High" and rows["ep-1"]["ActivityDate"] == "2026-11-20"
    assert rows["ep-1"]["Status"] == "Not Started"
    assert rows["ep-2"]["OwnerId"] == owners["integration@example.com"]  # unknown owner
    assert rows["ep-2"]["Priority"] == "Low"

    # a rep completes a task; the rerun neither duplicates nor reopens it
    dest.sf.Task.update(first[0].crm_id, {"Status": "Completed"})
    second = dest.create_tasks(tasks, TASK_KEY)
    assert [r.ok for r in second] == [True, True, False]
    assert [r.created for r in second[:2]] == [False, False]
    assert [r.crm_id for r in second[:2]] == [r.crm_id for r in first[:2]]
    assert count(dest, "Task") == 2
    assert dest.sf.Task.get(first[0].crm_id)["Status"] == "Completed"


def test_bad_session_raises_without_the_secret(sandbox: SandboxServer) -> None:
    secret = "00DXX0000000001!AQ4AQFakeSessionTokenThatMustNotLeak"
    dest = make_destination(sandbox, token=secret)
    for call in (
        lambda: dest.upsert("Account", KEY, accounts(1)),
        lambda: dest.provision("Account", "Handoff", ACCOUNT_FIELDS),
        lambda: dest.owners(),
    ):
        with pytest.raises(CrmError) as caught:
            call()
        assert caught.value.status == 401 and not caught.value.retryable
        assert secret not in str(caught.value) and "INVALID_SESSION_ID" in str(caught.value)
    assert dest.api_calls == 3  # not retried
