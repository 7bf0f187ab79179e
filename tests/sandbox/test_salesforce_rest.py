"""Salesforce REST contract: discovery, describe, record CRUD, upsert, errors, limits, auth.

Everything goes through the unmodified simple-salesforce client (or raw `requests` for
status codes, headers and error shapes) against the HTTPS sandbox.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from crm_sandbox.server import SandboxServer
from tests.sandbox.salesforce_client import add_key_field as _create_key_field
from tests.sandbox.salesforce_client import client_session, salesforce

API = "/services/data/v62.0"


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    return salesforce(sandbox)


def raw(
    sandbox: SandboxServer, method: str, path: str, token: str | None = None, **kw: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or sandbox.token}", **kw.pop("headers", {})}
    return client_session(sandbox).request(
        method, sandbox.base_url + path, headers=headers, timeout=30, **kw
    )


def add_key_field(sf: Salesforce, obj: str = "Account", name: str = "Handoff_Key__c") -> None:
    assert _create_key_field(sf, obj, name)["success"] is True


def error_of(exc: pytest.ExceptionInfo) -> dict[str, Any]:
    content = exc.value.content
    assert isinstance(content, list) and len(content) == 1
    return content[0]


def test_versions_and_resources(sandbox: SandboxServer) -> None:
    versions = raw(sandbox, "GET", "/services/data/").json()
    assert {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"} in versions
    resources = raw(sandbox, "GET", API).json()
    assert resources["query"] == f"{API}/query"
    assert raw(sandbox, "GET", "/services/data/v12.0/sobjects").status_code == 404


def test_default_client_version_works(sandbox: SandboxServer) -> None:
    sf = Salesforce(
        instance_url=sandbox.base_url, session_id=sandbox.token, session=client_session(sandbox)
    )
    assert sf.sf_version == "59.0"
    assert "Account" in {o["name"] for o in sf.describe()["sobjects"]}


def test_global_and_object_describe(sf: Salesforce) -> None:
    prefixes = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}
    assert prefixes == {
        "Account": "001",
        "Contact": "003",
        "Lead": "00Q",
        "Opportunity": "006",
        "Task": "00T",
        "User": "005",
    }
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert fields["Name"]["type"] == "string"
    assert fields["Name"]["length"] == 255
    assert fields["Name"]["nillable"] is False
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["OwnerId"]["relationshipName"] == "Owner"
    assert fields["NumberOfEmployees"]["type"] == "int"
    opp = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    stages = [p["value"] for p in opp["StageName"]["picklistValues"]]
    assert "Closed Won" in stages and "Closed Lost" in stages
    assert opp["IsWon"]["updateable"] is False
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert task["WhatId"]["referenceTo"] == ["Account", "Opportunity"]
    assert sf.Account.metadata()["objectDescribe"]["keyPrefix"] == "001"


def test_record_crud(sf: Salesforce, sandbox: SandboxServer) -> None:
    created = sf.Account.create({"Name": "Acme", "Website": "acme.com", "NumberOfEmployees": 42})
    assert created["success"] is True and created["errors"] == []
    rid = created["id"]
    assert len(rid) == 18 and rid.startswith("001")
    record = sf.Account.get(rid)
    assert record["attributes"]["type"] == "Account"
    assert record["Name"] == "Acme" and record["NumberOfEmployees"] == 42
    assert record["OwnerId"].startswith("005")
    assert record["CreatedDate"].endswith("+0000")
    # 15-character ids are accepted too
    assert sf.Account.get(rid[:15])["Id"] == rid
    partial = sf.Account.get(rid, params={"fields": "Name,Website"})
    assert list(partial) == ["attributes", "Name", "Website"]

    sandbox.admin("POST", "clock/advance", json={"hours": 2})
    assert sf.Account.update(rid, {"Industry": "Technology"}) == 204
    updated = sf.Account.get(rid)
    assert updated["Industry"] == "Technology"
    assert updated["LastModifiedDate"] > updated["CreatedDate"]
    assert updated["SystemModstamp"] == updated["LastModifiedDate"]

    assert sf.Account.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf.Account.get(rid)
    assert error_of(info)["errorCode"] == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf.Account.get("001Hd0000000999IAA")
    assert error_of(info)["errorCode"] == "NOT_FOUND"


def test_upsert_by_external_id_created_then_updated(sf: Salesforce) -> None:
    add_key_field(sf)
    first = sf.Account.upsert("Handoff_Key__c/acct-1", {"Name": "One"}, raw_response=True)
    assert first.status_code == 201
    body = first.json()
    assert body["created"] is True and body["success"] is True
    second = sf.Account.upsert("Handoff_Key__c/acct-1", {"Name": "Uno"}, raw_response=True)
    assert second.status_code == 200
    assert second.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    record = sf.Account.get_by_custom_id("Handoff_Key__c", "acct-1")
    assert record["Name"] == "Uno" and record["Id"] == body["id"]
    # external ids match case-insensitively
    assert sf.Account.upsert("Handoff_Key__c/ACCT-1", {"Name": "Again"}) == 200
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.create({"Name": "Dup", "Handoff_Key__c": "acct-1"})
    err = error_of(info)
    assert err["errorCode"] == "DUPLICATE_VALUE"
    assert body["id"] in err["message"]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.upsert("Name/Acme", {"Website": "x.com"})


@pytest.mark.parametrize(
    ("sobject", "data", "code", "fields"),
    [
        ("Account", {"Name": "A", "Bogus__c": 1}, "INVALID_FIELD", []),
        ("Account", {"Name": "A", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR", []),
        ("Account", {"Website": "x.com"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        ("Account", {"Name": "A", "OwnerId": "nope"}, "MALFORMED_ID", ["OwnerId"]),
        (
            "Account",
            {"Name": "A", "OwnerId": "005Hd0000000999IAA"},
            "INVALID_CROSS_REFERENCE_KEY",
            ["OwnerId"],
        ),
        (
            "Opportunity",
            {"Name": "O", "StageName": "Won-ish", "CloseDate": "2026-01-01"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["StageName"],
        ),
        (
            "Opportunity",
            {"Name": "O", "StageName": "Prospecting", "CloseDate": "2026-01-01", "IsWon": True},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["IsWon"],
        ),
        ("Contact", {"LastName": "L", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        ("Lead", {"LastName": "L"}, "REQUIRED_FIELD_MISSING", ["Company"]),
    ],
)
def test_create_validation_errors(
    sf: Salesforce, sobject: str, data: dict[str, Any], code: str, fields: list[str]
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        getattr(sf, sobject).create(data)
    err = error_of(info)
    assert err["errorCode"] == code
    assert err["fields"] == fields
    assert err["message"]
    assert sf.query(f"SELECT COUNT() FROM {sobject}")["totalSize"] == 0


def test_opportunity_and_task_derived_fields(sf: Salesforce) -> None:
    acct = sf.Account.create({"Name": "Acme"})["id"]
    opp = sf.Opportunity.create(
        {"Name": "Deal", "AccountId": acct, "StageName": "Prospecting", "CloseDate": "2026-06-30"}
    )["id"]
    record = sf.Opportunity.get(opp)
    assert (record["IsClosed"], record["IsWon"], record["Probability"]) == (False, False, 10)
    sf.Opportunity.update(opp, {"StageName": "Closed Won", "Amount": 1234.567})
    record = sf.Opportunity.get(opp)
    assert (record["IsClosed"], record["IsWon"], record["Probability"]) == (True, True, 100)
    assert record["Amount"] == 1234.57
    sf.Opportunity.update(opp, {"StageName": "Closed Lost"})
    record = sf.Opportunity.get(opp)
    assert (record["IsClosed"], record["IsWon"], record["Probability"]) == (True, False, 0)

    task = sf.Task.create({"Subject": "Call", "WhatId": opp, "ActivityDate": "2026-07-01"})["id"]
    record = sf.Task.get(task)
    assert (record["Status"], record["Priority"], record["IsClosed"]) == (
        "Not Started",
        "Normal",
        False,
    )
    assert record["CompletedDateTime"] is None
    sf.Task.update(task, {"Status": "Completed"})
    record = sf.Task.get(task)
    assert record["IsClosed"] is True and record["CompletedDateTime"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Task.create({"Subject": "x", "WhoId": acct})
    assert error_of(info)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_users_are_seeded_and_inactive_owner_rejected(sf: Salesforce) -> None:
    users = sf.query("SELECT Id, Name, Email, IsActive FROM User ORDER BY Name")["records"]
    assert len(users) >= 3
    assert all(u["Id"].startswith("005") for u in users)
    inactive = [u for u in users if not u["IsActive"]]
    assert inactive
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.create({"Name": "A", "OwnerId": inactive[0]["Id"]})
    assert error_of(info)["errorCode"] == "INACTIVE_OWNER_OR_USER"


def test_limit_info_header_and_limits_resource(sf: Salesforce, sandbox: SandboxServer) -> None:
    sandbox.admin("PATCH", "settings", json={"salesforce_daily_limit": 5000})
    account = sf.Account
    account.create({"Name": "Acme"})
    assert account.api_usage["api-usage"].total == 5000
    sf.query("SELECT Id FROM Account")
    usage = sf.api_usage["api-usage"]
    assert usage.total == 5000 and usage.used >= 1
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 5000
    assert limits["DailyApiRequests"]["Remaining"] == 5000 - (usage.used + 1)
    response = raw(sandbox, "GET", f"{API}/sobjects")
    assert response.headers["Sforce-Limit-Info"] == f"api-usage={usage.used + 2}/5000"


def test_daily_limit_exceeded(sf: Salesforce, sandbox: SandboxServer) -> None:
    sf.describe()
    used = sf.api_usage["api-usage"].used
    sandbox.admin("PATCH", "settings", json={"salesforce_daily_limit": used + 1})
    sf.describe()
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.describe()
    assert error_of(info) == {
        "message": "TotalRequests Limit exceeded.",
        "errorCode": "REQUEST_LIMIT_EXCEEDED",
    }
    response = raw(sandbox, "GET", f"{API}/limits")
    assert response.status_code == 403
    assert response.headers["Sforce-Limit-Info"] == f"api-usage={used + 1}/{used + 1}"
    # a day later the rolling window has room again
    sandbox.admin("POST", "clock/advance", json={"hours": 25})
    assert sf.describe()["sobjects"]


def test_bad_session_is_401(sandbox: SandboxServer) -> None:
    response = raw(sandbox, "GET", f"{API}/sobjects", token="wrong")
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    sf = Salesforce(
        instance_url=sandbox.base_url, session_id="wrong", session=client_session(sandbox)
    )
    with pytest.raises(SalesforceExpiredSession):
        sf.Account.describe()


def test_unknown_paths_and_methods(sandbox: SandboxServer) -> None:
    response = raw(sandbox, "GET", f"{API}/sobjects/Nope/describe")
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"
    response = raw(sandbox, "PUT", f"{API}/sobjects/Account")
    assert response.status_code == 405
    assert response.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    response = raw(sandbox, "POST", f"{API}/sobjects/Account", data="{not json")
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_injected_server_faults_use_salesforce_error_shape(sandbox: SandboxServer) -> None:
    sandbox.admin("PUT", "faults", json={"rate_5xx": 1.0, "statuses_5xx": [503]})
    response = raw(sandbox, "GET", f"{API}/sobjects")
    assert response.status_code == 503
    assert response.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert "Sforce-Limit-Info" in response.headers


def test_injected_record_failures_on_single_writes(sf: Salesforce, sandbox: SandboxServer) -> None:
    sandbox.admin("PUT", "faults", json={"record_fail_rate": 1.0})
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.create({"Name": "Acme"})
    assert error_of(info)["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    sandbox.admin("PUT", "faults", json={})
    assert sf.Account.create({"Name": "Acme"})["success"]


def test_request_log_counts_records(sf: Salesforce, sandbox: SandboxServer) -> None:
    sf.Account.create({"Name": "A"})
    entries = sandbox.requests(api="salesforce", method="POST")
    assert entries[-1]["records"] == 1 and entries[-1]["status"] == 201


def test_rep_helpers_and_state_round_trip(sf: Salesforce, sandbox: SandboxServer) -> None:
    api = sandbox.sandbox.api_named("salesforce")
    assert api is not None
    rep = next(u for u in api.list_records("User") if u["LastName"] == "Chen")
    rid = api.create_record("Account", {"Name": "Rep Co", "OwnerId": rep["Id"]})
    api.update_record("Account", rid, {"Industry": "Banking"})
    record = sf.Account.get(rid)
    assert record["Industry"] == "Banking"
    assert record["LastModifiedById"] == rep["Id"]
    assert api.has_field("Account", "industry") and not api.has_field("Account", "Nope__c")
    opp = api.create_record(
        "Opportunity",
        {"Name": "Deal", "AccountId": rid, "StageName": "Prospecting", "CloseDate": "2026-05-01"},
    )
    assert sf.Opportunity.get(opp)["OwnerId"] == rep["Id"]
    assert opp in {o["Id"] for o in api.list_records("Opportunity")}
    with pytest.raises(ValueError, match="REQUIRED_FIELD_MISSING"):
        api.create_record("Account", {"Website": "x.com"})

    state = sandbox.admin("GET", "state")
    sandbox.admin("POST", "reset")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    sandbox.admin("PUT", "state", json=state)
    assert sf.Account.get(rid)["Name"] == "Rep Co"
    assert sf.Account.create({"Name": "Next"})["id"] != rid
