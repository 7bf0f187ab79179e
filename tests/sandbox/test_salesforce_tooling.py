"""Tooling API CustomField contract: create fields, write them, query for them, idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm_sandbox.server import SandboxServer
from tests.sandbox.salesforce_client import salesforce


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    return salesforce(sandbox)


def create_field(sf: Salesforce, full_name: str, **metadata: Any) -> dict[str, Any]:
    return sf.toolingexecute(
        "sobjects/CustomField",
        method="POST",
        data={"FullName": full_name, "Metadata": metadata},
    )


def describe_field(sf: Salesforce, sobject: str, name: str) -> dict[str, Any] | None:
    fields = getattr(sf, sobject).describe()["fields"]
    return next((f for f in fields if f["name"] == name), None)


def test_create_field_then_write_it(sf: Salesforce) -> None:
    result = create_field(
        sf,
        "Account.Handoff_Key__c",
        label="Handoff Key",
        type="Text",
        length=80,
        externalId=True,
        unique=True,
    )
    assert result["success"] is True and result["id"].startswith("00N")
    described = describe_field(sf, "Account", "Handoff_Key__c")
    assert described is not None
    assert (described["type"], described["length"], described["custom"]) == ("string", 80, True)
    assert described["externalId"] is True and described["unique"] is True
    assert described["updateable"] is True

    create_field(sf, "Account.PQA_Score__c", label="PQA Score", type="Number", precision=5, scale=1)
    create_field(sf, "Account.Hot__c", label="Hot", type="Checkbox", defaultValue="false")
    create_field(sf, "Account.Scored_At__c", label="Scored At", type="DateTime")
    create_field(sf, "Account.SLA_Due__c", label="SLA Due", type="Date")
    create_field(
        sf, "Account.Context__c", label="Context", type="LongTextArea", length=32768, visibleLines=5
    )
    create_field(
        sf,
        "Account.Tier__c",
        label="Tier",
        type="Picklist",
        valueSet={
            "restricted": True,
            "valueSetDefinition": {
                "value": [{"fullName": "A", "default": False}, {"fullName": "B", "default": False}]
            },
        },
    )
    rid = sf.Account.create(
        {
            "Name": "Acme",
            "Handoff_Key__c": "acme",
            "PQA_Score__c": 87.25,
            "Scored_At__c": "2026-03-01T10:00:00Z",
            "SLA_Due__c": "2026-03-02",
            "Context__c": "x" * 5000,
            "Tier__c": "A",
        }
    )["id"]
    record = sf.Account.get(rid)
    assert record["PQA_Score__c"] == 87.3
    assert record["Hot__c"] is False
    assert record["Scored_At__c"] == "2026-03-01T10:00:00.000+0000"
    assert record["SLA_Due__c"] == "2026-03-02"
    assert len(record["Context__c"]) == 5000
    rows = sf.query("SELECT Name FROM Account WHERE Tier__c = 'A' AND PQA_Score__c > 80")
    assert rows["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.update(rid, {"Tier__c": "Z"})
    assert info.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.update(rid, {"PQA_Score__c": 123456})
    assert info.value.content[0]["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"


def test_tooling_query_supports_idempotent_provisioning(sf: Salesforce) -> None:
    soql = (
        "SELECT Id, DeveloperName, TableEnumOrId FROM CustomField "
        "WHERE DeveloperName = 'Handoff_Key' AND TableEnumOrId = 'Account'"
    )
    assert sf.toolingexecute(f"query/?q={soql}")["totalSize"] == 0
    created = create_field(
        sf, "Account.Handoff_Key__c", label="Handoff Key", type="Text", length=64
    )
    found = sf.toolingexecute(f"query/?q={soql}")
    assert found["totalSize"] == 1
    assert found["records"][0]["Id"] == created["id"]
    assert found["records"][0]["attributes"]["type"] == "CustomField"
    with pytest.raises(SalesforceMalformedRequest) as info:
        create_field(sf, "Account.Handoff_Key__c", label="Again", type="Text", length=64)
    assert info.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"

    detail = sf.toolingexecute(f"sobjects/CustomField/{created['id']}")
    assert detail["FullName"] == "Account.Handoff_Key__c"
    assert detail["Metadata"]["length"] == 64
    sf.toolingexecute(f"sobjects/CustomField/{created['id']}", method="DELETE")
    assert describe_field(sf, "Account", "Handoff_Key__c") is None
    assert sf.toolingexecute(f"query/?q={soql}")["totalSize"] == 0


@pytest.mark.parametrize(
    ("full_name", "metadata", "fragment"),
    [
        ("Account.Bad Name__c", {"label": "x", "type": "Text", "length": 5}, "field name"),
        ("Account.NoSuffix", {"label": "x", "type": "Text", "length": 5}, "end with __c"),
        ("Widget.Key__c", {"label": "x", "type": "Text", "length": 5}, "does not exist"),
        ("Account.Key__c", {"label": "x", "type": "Text", "length": 300}, "length"),
        ("Account.Key__c", {"label": "x", "type": "Geolocation"}, "does not support"),
        ("Account.Key__c", {"type": "Text", "length": 5}, "label"),
        ("Account.Key__c", {"label": "x", "type": "Picklist"}, "valueSet"),
    ],
)
def test_invalid_field_definitions(
    sf: Salesforce, full_name: str, metadata: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        create_field(sf, full_name, **metadata)
    error = info.value.content[0]
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert fragment in error["message"]
