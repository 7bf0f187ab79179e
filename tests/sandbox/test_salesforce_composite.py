"""sObject Collections contract: create, update, upsert and delete up to 200 records a call,
per-record results in request order, partial failures, allOrNone rollback, injected failures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm_sandbox.server import SandboxServer
from tests.sandbox.salesforce_client import add_key_field, salesforce


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    sf = salesforce(sandbox)
    add_key_field(sf)
    return sf


def collection(
    sf: Salesforce, method: str, records: list[dict[str, Any]], path: str = "", **extra: Any
) -> list[dict[str, Any]]:
    body = {"allOrNone": extra.pop("all_or_none", False), "records": records}
    return sf.restful(f"composite/sobjects{path}", method=method, data=json.dumps(body))


def account(name: str | None, key: str | None = None, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"attributes": {"type": "Account"}, **fields}
    if name is not None:
        record["Name"] = name
    if key is not None:
        record["Handoff_Key__c"] = key
    return record


def count(sf: Salesforce, sobject: str = "Account") -> int:
    return sf.query(f"SELECT COUNT() FROM {sobject}")["totalSize"]


def test_create_reports_each_record_in_order(sf: Salesforce) -> None:
    results = collection(
        sf,
        "POST",
        [
            account("A"),
            account(None, Website="b.com"),
            account("C"),
            {"attributes": {"type": "Contact"}, "LastName": "Doe"},
        ],
    )
    assert [r["success"] for r in results] == [True, False, True, True]
    assert results[0]["id"].startswith("001") and results[3]["id"].startswith("003")
    assert results[1]["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [Name]",
            "fields": ["Name"],
        }
    ]
    assert count(sf) == 2


def test_all_or_none_rolls_everything_back(sf: Salesforce) -> None:
    collection(sf, "POST", [account("Existing", "k-0")])
    results = collection(
        sf,
        "POST",
        [account("New", "k-1"), account("Dup", "k-0"), account("Also new", "k-2")],
        all_or_none=True,
    )
    assert [r["success"] for r in results] == [False, False, False]
    codes = [r["errors"][0]["statusCode"] for r in results]
    assert codes == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "DUPLICATE_VALUE",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert count(sf) == 1

    # an all-or-none update restores earlier versions too
    rid = sf.query("SELECT Id FROM Account")["records"][0]["Id"]
    results = collection(
        sf,
        "PATCH",
        [
            {"attributes": {"type": "Account"}, "Id": rid, "Name": "Renamed"},
            {"attributes": {"type": "Account"}, "Id": rid, "Name": None},
        ],
        all_or_none=True,
    )
    assert [r["success"] for r in results] == [False, False]
    assert sf.Account.get(rid)["Name"] == "Existing"


def test_upsert_by_external_id_reports_created(sf: Salesforce) -> None:
    first = collection(
        sf, "PATCH", [account("One", "k-1"), account("Two", "k-2")], "/Account/Handoff_Key__c"
    )
    assert [(r["success"], r["created"]) for r in first] == [(True, True), (True, True)]
    second = collection(
        sf,
        "PATCH",
        [account("Two v2", "K-2"), account("Three", "k-3"), account(None, "k-4")],
        "/Account/Handoff_Key__c",
    )
    assert [(r["success"], r.get("created")) for r in second] == [
        (True, False),
        (True, True),
        (False, False),
    ]
    assert second[0]["id"] == first[1]["id"]
    assert second[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    names = sf.query("SELECT Name FROM Account ORDER BY Handoff_Key__c")["records"]
    assert [r["Name"] for r in names] == ["One", "Two v2", "Three"]


def test_upsert_rejects_duplicates_and_missing_keys(sf: Salesforce) -> None:
    results = collection(
        sf,
        "PATCH",
        [account("A", "same"), account("B", "SAME"), account("C"), account("D", "other")],
        "/Account/Handoff_Key__c",
    )
    assert [r["success"] for r in results] == [False, False, False, True]
    assert [r["errors"][0]["statusCode"] for r in results[:3]] == [
        "DUPLICATE_EXTERNAL_ID",
        "DUPLICATE_EXTERNAL_ID",
        "MISSING_ARGUMENT",
    ]
    with pytest.raises(SalesforceMalformedRequest) as info:
        collection(sf, "PATCH", [account("A", "x")], "/Account/Name")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_update_and_delete_collections(sf: Salesforce) -> None:
    created = collection(sf, "POST", [account("A"), account("B")])
    ids = [r["id"] for r in created]
    results = collection(
        sf,
        "PATCH",
        [
            {"attributes": {"type": "Account"}, "Id": ids[0], "Industry": "Banking"},
            {"attributes": {"type": "Account"}, "Industry": "Banking"},
            {"attributes": {"type": "Account"}, "Id": ids[1][:15], "Website": "b.com"},
        ],
    )
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert results[2]["id"] == ids[1]
    rows = sf.restful(
        "composite/sobjects/Account", params={"ids": ",".join(ids), "fields": "Industry,Website"}
    )
    assert [(r["Industry"], r["Website"]) for r in rows] == [("Banking", None), (None, "b.com")]
    deleted = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": f"{ids[0]},001Hd0000000999IAA"}
    )
    assert [d["success"] for d in deleted] == [True, False]
    assert count(sf) == 1


def test_request_level_errors(sf: Salesforce) -> None:
    too_many = [account(f"A{i}") for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as info:
        collection(sf, "POST", too_many)
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceMalformedRequest) as info:
        collection(sf, "POST", [{"Name": "no attributes"}])
    assert info.value.content[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as info:
        collection(sf, "POST", [account("A"), account("B", Bogus__c=1)])
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as info:
        collection(sf, "POST", [account("A", NumberOfEmployees="lots")])
    assert info.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert count(sf) == 0
    assert len(collection(sf, "POST", [account(f"A{i}") for i in range(200)])) == 200


def test_injected_record_failures_are_deterministic(sf: Salesforce, sandbox: SandboxServer) -> None:
    sandbox.admin("PUT", "faults", json={"record_fail_rate": 0.4})
    batch = [account(f"Co {i}", f"key-{i}") for i in range(50)]
    first = collection(sf, "PATCH", batch, "/Account/Handoff_Key__c")
    failed = [i for i, r in enumerate(first) if not r["success"]]
    assert 5 < len(failed) < 35
    assert {first[i]["errors"][0]["statusCode"] for i in failed} == {
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    }
    retry = collection(sf, "PATCH", batch, "/Account/Handoff_Key__c")
    assert [i for i, r in enumerate(retry) if not r["success"]] == failed
    assert count(sf) == 50 - len(failed)
    log = sandbox.requests(api="salesforce", method="PATCH")
    assert log[-1]["records"] == 50
    sandbox.admin("PUT", "faults", json={})
    assert all(r["success"] for r in collection(sf, "PATCH", batch, "/Account/Handoff_Key__c"))
    assert count(sf) == 50
