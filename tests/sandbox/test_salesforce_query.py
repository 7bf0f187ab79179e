"""SOQL over REST: parent fields, filters, ordering, nextRecordsUrl paging, queryAll, errors."""

from __future__ import annotations

import json

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm_sandbox.server import SandboxServer
from tests.sandbox.salesforce_client import client_session, salesforce

API = "/services/data/v62.0"


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    return salesforce(sandbox)


def seed_accounts(sf: Salesforce, n: int) -> None:
    records = [
        {"Name": f"Account {i:05d}", "NumberOfEmployees": str(i), "Industry": "Technology"}
        for i in range(n)
    ]
    result = sf.bulk2.Account.insert(records=records, wait=0)
    assert result[0]["numberRecordsFailed"] == 0


def test_parent_fields_and_where_variety(sf: Salesforce) -> None:
    acme = sf.Account.create({"Name": "Acme", "Industry": "Technology"})["id"]
    beta = sf.Account.create({"Name": "Beta", "Industry": "Banking"})["id"]
    for last, email, acct in [
        ("Ng", "ng@acme.com", acme),
        ("O'Hara", "ohara@acme.com", acme),
        ("Berg", "berg@beta.io", beta),
        ("Solo", None, None),
    ]:
        data = {"LastName": last, "Email": email, "AccountId": acct}
        sf.Contact.create({k: v for k, v in data.items() if v})
    rows = sf.query(
        "SELECT Id, LastName, Account.Name, Owner.Email FROM Contact "
        "WHERE Account.Industry = 'Technology' ORDER BY LastName DESC"
    )
    assert rows["totalSize"] == 2 and rows["done"] is True
    first = rows["records"][0]
    assert first["LastName"] == "O'Hara"
    assert first["Account"] == {
        "attributes": {"type": "Account", "url": f"{API}/sobjects/Account/{acme}"},
        "Name": "Acme",
    }
    assert first["Owner"]["Email"] == "integration@example.com"

    def last_names(where: str) -> list[str]:
        q = f"SELECT LastName FROM Contact WHERE {where} ORDER BY LastName"
        return [r["LastName"] for r in sf.query_all(q)["records"]]

    assert last_names(r"LastName = 'O\'Hara'") == ["O'Hara"]
    assert last_names("Email LIKE '%@acme.com'") == ["Ng", "O'Hara"]
    assert last_names("AccountId = null OR Account.Name IN ('Beta')") == ["Berg", "Solo"]
    assert last_names(f"AccountId NOT IN ('{acme}') AND NOT (Email = null)") == ["Berg"]
    assert last_names("CreatedDate > 2020-01-01T00:00:00Z AND CreatedDate < TOMORROW") == [
        "Berg",
        "Ng",
        "O'Hara",
        "Solo",
    ]
    assert last_names("CreatedDate > 2999-01-01T00:00:00Z") == []
    assert sf.query("SELECT COUNT() FROM Contact WHERE AccountId != null")["totalSize"] == 3
    limited = sf.query("SELECT LastName FROM Contact ORDER BY LastName LIMIT 2 OFFSET 1")
    assert [r["LastName"] for r in limited["records"]] == ["Ng", "O'Hara"]


def test_query_all_follows_next_records_url(sf: Salesforce, sandbox: SandboxServer) -> None:
    seed_accounts(sf, 450)
    since = sandbox.admin("GET", "requests")["next_index"]
    headers = {"Sforce-Query-Options": "batchSize=200"}
    result = sf.query_all(
        "SELECT Id, Name FROM Account ORDER BY NumberOfEmployees", headers=headers
    )
    assert result["totalSize"] == 450
    assert [r["Name"] for r in result["records"]] == [f"Account {i:05d}" for i in range(450)]
    calls = [e for e in sandbox.requests(since=since) if "/query" in e["path"]]
    assert [e["records"] for e in calls] == [200, 200, 50]

    first = sf.query("SELECT Id FROM Account", headers=headers)
    assert first["done"] is False and first["totalSize"] == 450
    assert len(first["records"]) == 200
    url = first["nextRecordsUrl"]
    assert url.startswith(f"{API}/query/01g") and url.endswith("-200")
    second = sf.query_more(url, identifier_is_url=True)
    assert len(second["records"]) == 200 and second["nextRecordsUrl"].endswith("-400")
    # a page can be read again (client retries are safe)
    assert sf.query_more(url, identifier_is_url=True)["records"] == second["records"]
    locator = url.rsplit("/", 1)[1]
    third = sf.query_more(locator.replace("-200", "-400"))
    assert third["done"] is True and "nextRecordsUrl" not in third
    assert len(third["records"]) == 50


def test_default_page_is_2000_records(sf: Salesforce) -> None:
    seed_accounts(sf, 2100)
    first = sf.query("SELECT Id FROM Account")
    assert len(first["records"]) == 2000 and first["done"] is False
    assert first["nextRecordsUrl"].endswith("-2000")
    assert len(sf.query_all("SELECT Id FROM Account")["records"]) == 2100


def test_query_all_includes_deleted(sf: Salesforce) -> None:
    keep = sf.Account.create({"Name": "Keep"})["id"]
    gone = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(gone)
    live = sf.query("SELECT Id FROM Account")["records"]
    assert [r["Id"] for r in live] == [keep]
    everything = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)
    assert {(r["Id"], r["IsDeleted"]) for r in everything["records"]} == {
        (keep, False),
        (gone, True),
    }


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected end of query"),
        ("SELECT Id FROM Account GROUP BY Name", "MALFORMED_QUERY", "GROUP clause"),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD", "No such column 'Nope__c'"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE", "sObject type 'Widget__c'"),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2026-01-01",
            "INVALID_QUERY_FILTER_OPERATOR",
            "dateTime",
        ),
    ],
)
def test_query_errors(sf: Salesforce, soql: str, code: str, fragment: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query(soql)
    error = info.value.content[0]
    assert error["errorCode"] == code
    assert fragment in error["message"]
    assert "ERROR at Row:1:Column:" in error["message"]


def test_invalid_locator_and_missing_q(sandbox: SandboxServer) -> None:
    session = client_session(sandbox)
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    response = session.get(
        f"{sandbox.base_url}{API}/query/01gHd0000000099IAA-2000", headers=headers
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    response = session.get(f"{sandbox.base_url}{API}/query", headers=headers)
    assert response.status_code == 400
    assert json.loads(response.text)[0]["errorCode"] == "MALFORMED_QUERY"
