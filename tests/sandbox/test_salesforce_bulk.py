"""Bulk API 2.0 ingest contract, through `sf.bulk2` and raw HTTP for states and headers."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from crm_sandbox.server import SandboxServer
from tests.sandbox.salesforce_client import add_key_field, client_session, salesforce

API = "/services/data/v62.0"


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    sf = salesforce(sandbox)
    add_key_field(sf)
    return sf


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def call(sandbox: SandboxServer, method: str, path: str, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sandbox.token}", **kw.pop("headers", {})}
    return client_session(sandbox).request(
        method, f"{sandbox.base_url}{API}{path}", headers=headers, timeout=30, **kw
    )


def test_upsert_with_failed_rows(sf: Salesforce) -> None:
    records = [{"Handoff_Key__c": f"k-{i}", "Name": f"Co {i}"} for i in range(10)]
    records[3]["Name"] = ""  # required field missing
    records[7]["NumberOfEmployees"] = "lots"  # wrong type
    result = sf.bulk2.Account.upsert(records=records, external_id_field="Handoff_Key__c", wait=0)
    assert result[0]["numberRecordsProcessed"] == 10
    assert result[0]["numberRecordsFailed"] == 2
    job_id = result[0]["job_id"]
    failed = rows(sf.bulk2.Account.get_failed_records(job_id))
    assert [r["Handoff_Key__c"] for r in failed] == ["k-3", "k-7"]
    assert failed[0]["sf__Id"] == ""
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    assert failed[1]["sf__Error"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    ok = rows(sf.bulk2.Account.get_successful_records(job_id))
    assert len(ok) == 8 and {r["sf__Created"] for r in ok} == {"true"}
    assert all(r["sf__Id"].startswith("001") for r in ok)
    assert rows(sf.bulk2.Account.get_unprocessed_records(job_id)) == []

    again = sf.bulk2.Account.upsert(
        records=[{"Handoff_Key__c": "K-1", "Name": "Renamed"}, {"Handoff_Key__c": "k-new"}],
        external_id_field="Handoff_Key__c",
        wait=0,
    )
    ok = rows(sf.bulk2.Account.get_successful_records(again[0]["job_id"]))
    failed = rows(sf.bulk2.Account.get_failed_records(again[0]["job_id"]))
    assert [(r["Handoff_Key__c"], r["sf__Created"]) for r in ok] == [("K-1", "false")]
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING")
    assert sf.Account.get_by_custom_id("Handoff_Key__c", "k-1")["Name"] == "Renamed"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 8


def test_duplicate_keys_in_one_job_fail(sf: Salesforce) -> None:
    records = [
        {"Handoff_Key__c": "a", "Name": "A"},
        {"Handoff_Key__c": "A", "Name": "A again"},
        {"Handoff_Key__c": "b", "Name": "B"},
    ]
    result = sf.bulk2.Account.upsert(records=records, external_id_field="Handoff_Key__c", wait=0)
    failed = rows(sf.bulk2.Account.get_failed_records(result[0]["job_id"]))
    assert [r["sf__Error"].split(":")[0] for r in failed] == ["DUPLICATE_EXTERNAL_ID"] * 2


def test_insert_update_delete_and_relationship_columns(sf: Salesforce) -> None:
    sf.bulk2.Account.upsert(
        records=[{"Handoff_Key__c": "parent", "Name": "Parent"}],
        external_id_field="Handoff_Key__c",
        wait=0,
    )
    result = sf.bulk2.Contact.insert(
        records=[
            {"LastName": "Ng", "Account.Handoff_Key__c": "parent"},
            {"LastName": "Lost", "Account.Handoff_Key__c": "missing"},
        ],
        wait=0,
    )
    job = result[0]["job_id"]
    ok = rows(sf.bulk2.Contact.get_successful_records(job))
    failed = rows(sf.bulk2.Contact.get_failed_records(job))
    assert [r["LastName"] for r in ok] == ["Ng"]
    assert "Foreign key external ID: missing not found" in failed[0]["sf__Error"]
    contact = sf.query("SELECT Id, Account.Name FROM Contact")["records"][0]
    assert contact["Account"]["Name"] == "Parent"

    sf.bulk2.Contact.update(records=[{"Id": contact["Id"], "Title": "CTO"}], wait=0)
    assert sf.Contact.get(contact["Id"])["Title"] == "CTO"
    sf.bulk2.Contact.update(records=[{"Id": contact["Id"], "Title": "#N/A"}], wait=0)
    assert sf.Contact.get(contact["Id"])["Title"] is None
    deleted = sf.bulk2.Contact.delete(records=[{"Id": contact["Id"]}], wait=0)
    assert deleted[0]["numberRecordsFailed"] == 0
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_unknown_column_fails_the_job(sf: Salesforce) -> None:
    with pytest.raises(SalesforceOperationError, match="Field name not found : Bogus"):
        sf.bulk2.Account.insert(records=[{"Name": "A", "Bogus": "x"}], wait=0)


def test_job_lifecycle_over_http(sandbox: SandboxServer, sf: Salesforce) -> None:
    created = call(
        sandbox,
        "POST",
        "/jobs/ingest",
        json={
            "object": "Account",
            "operation": "upsert",
            "externalIdFieldName": "Handoff_Key__c",
            "contentType": "CSV",
            "lineEnding": "LF",
        },
    )
    assert created.status_code == 200
    job = created.json()
    assert job["state"] == "Open" and job["id"].startswith("750")
    assert job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"
    upload = call(
        sandbox,
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data=b"Handoff_Key__c,Name\nx-1,One\nx-2,Two\n",
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    closed = call(sandbox, "PATCH", f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    info = call(sandbox, "GET", f"/jobs/ingest/{job['id']}").json()
    assert info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 0)
    results = call(sandbox, "GET", f"/jobs/ingest/{job['id']}/successfulResults/")
    assert results.headers["content-type"].startswith("text/csv")
    assert results.text.splitlines()[0] == "sf__Id,sf__Created,Handoff_Key__c,Name"
    listed = call(sandbox, "GET", "/jobs/ingest").json()
    assert job["id"] in {j["id"] for j in listed["records"]}
    assert call(sandbox, "DELETE", f"/jobs/ingest/{job['id']}").status_code == 204
    assert call(sandbox, "GET", f"/jobs/ingest/{job['id']}").status_code == 404

    bad = call(sandbox, "POST", "/jobs/ingest", json={"object": "Account", "operation": "merge"})
    assert bad.status_code == 400
    bad = call(
        sandbox,
        "POST",
        "/jobs/ingest",
        json={"object": "Account", "operation": "upsert", "externalIdFieldName": "Name"},
    )
    assert bad.status_code == 400 and "not an External ID" in bad.json()[0]["message"]


def test_aborted_job_keeps_rows_unprocessed(sandbox: SandboxServer, sf: Salesforce) -> None:
    job = call(
        sandbox, "POST", "/jobs/ingest", json={"object": "Account", "operation": "insert"}
    ).json()
    call(sandbox, "PUT", f"/jobs/ingest/{job['id']}/batches", data=b"Name\nA\nB\n")
    aborted = call(sandbox, "PATCH", f"/jobs/ingest/{job['id']}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    text = call(sandbox, "GET", f"/jobs/ingest/{job['id']}/unprocessedrecords").text
    assert text.splitlines() == ["Name", "A", "B"]
    again = call(sandbox, "PUT", f"/jobs/ingest/{job['id']}/batches", data=b"Name\nC\n")
    assert again.status_code == 409
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_processing_delay_shows_in_progress(sandbox: SandboxServer, sf: Salesforce) -> None:
    sandbox.admin("PATCH", "settings", json={"salesforce_bulk_delay_seconds": 0.3})
    job = call(
        sandbox, "POST", "/jobs/ingest", json={"object": "Account", "operation": "insert"}
    ).json()
    call(sandbox, "PUT", f"/jobs/ingest/{job['id']}/batches", data=b"Name\nA\n")
    call(sandbox, "PATCH", f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert call(sandbox, "GET", f"/jobs/ingest/{job['id']}").json()["state"] == "InProgress"
    early = call(sandbox, "GET", f"/jobs/ingest/{job['id']}/failedResults")
    assert early.status_code == 400
    time.sleep(0.35)
    assert call(sandbox, "GET", f"/jobs/ingest/{job['id']}").json()["state"] == "JobComplete"
    result = sf.bulk2.Account.insert(records=[{"Name": "B"}], wait=0)
    assert result[0]["numberRecordsProcessed"] == 1


def test_injected_failures_in_bulk(sf: Salesforce, sandbox: SandboxServer) -> None:
    sandbox.admin("PUT", "faults", json={"record_fail_rate": 0.5})
    records = [{"Handoff_Key__c": f"k-{i}", "Name": f"Co {i}"} for i in range(40)]
    result = sf.bulk2.Account.upsert(records=records, external_id_field="Handoff_Key__c", wait=0)
    failed = rows(sf.bulk2.Account.get_failed_records(result[0]["job_id"]))
    assert 5 < len(failed) < 35
    assert {r["sf__Error"].split(":")[0] for r in failed} == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    assert result[0]["numberRecordsFailed"] == len(failed)
