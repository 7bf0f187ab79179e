"""HubSpot sandbox contract: record merges (POST /crm/v3/objects/{type}/merge) and property
history (propertiesWithHistory on reads), as the official client sees them."""

from __future__ import annotations

import pytest
from hubspot import HubSpot
from hubspot.crm.companies import PublicMergeInput

BASE = "/crm/v3/objects"


def _key_property(http, sandbox) -> None:
    http.post(
        f"{sandbox.base_url}/crm/v3/properties/companies",
        json={
            "name": "handoff_account_key",
            "label": "Key",
            "type": "string",
            "fieldType": "text",
            "groupName": "companyinformation",
            "hasUniqueValue": True,
        },
    ).raise_for_status()


def _company(http, sandbox, **props) -> str:
    response = http.post(f"{sandbox.base_url}{BASE}/companies", json={"properties": props})
    response.raise_for_status()
    return response.json()["id"]


def test_merge_makes_a_new_record_that_old_ids_point_to(sandbox, http, hubspot: HubSpot) -> None:
    _key_property(http, sandbox)
    a = _company(http, sandbox, name="Acme", handoff_account_key="acme.com")
    b = _company(http, sandbox, name="Acme dup", domain="acme.io", handoff_account_key="acme.io")
    task = http.post(
        f"{sandbox.base_url}{BASE}/tasks",
        json={
            "properties": {"hs_timestamp": "2030-01-01T00:00:00Z", "hs_task_subject": "call"},
            "associations": [
                {
                    "to": {"id": b},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}],
                }
            ],
        },
    ).json()["id"]

    merged = hubspot.crm.companies.basic_api.merge(
        public_merge_input=PublicMergeInput(primary_object_id=a, object_id_to_merge=b)
    )
    new = merged.id
    assert new not in (a, b)
    props = http.get(
        f"{sandbox.base_url}{BASE}/companies/{new}",
        params={"properties": "name,domain,handoff_account_key,hs_merged_object_ids"},
    ).json()["properties"]
    assert props["name"] == "Acme"  # the primary's value wins
    assert props["domain"] == "acme.io"  # the other record fills what the primary lacks
    assert props["handoff_account_key"] == "acme.com"
    assert sorted(props["hs_merged_object_ids"].split(";")) == sorted([a, b])
    # the old ids answer with the merged record
    for old in (a, b):
        assert http.get(f"{sandbox.base_url}{BASE}/companies/{old}").json()["id"] == new
    read = http.post(
        f"{sandbox.base_url}{BASE}/companies/batch/read",
        json={"inputs": [{"id": b}], "properties": ["name"]},
    ).json()
    assert [r["id"] for r in read["results"]] == [new]
    # associations moved to the merged record
    assoc = http.get(f"{sandbox.base_url}/crm/v4/objects/tasks/{task}/associations/companies")
    assert [r["toObjectId"] for r in assoc.json()["results"]] == [int(new)]
    # the merged record shows up in search, the old ones do not, nor in the archived list
    found = http.post(f"{sandbox.base_url}{BASE}/companies/search", json={}).json()["results"]
    assert [r["id"] for r in found] == [new]
    archived = http.get(f"{sandbox.base_url}{BASE}/companies", params={"archived": "true"})
    assert archived.json()["results"] == []
    # the secondary's unique value is free again; the primary's stays taken
    again = http.post(
        f"{sandbox.base_url}{BASE}/companies",
        json={"properties": {"name": "new", "handoff_account_key": "acme.io"}},
    )
    assert again.status_code == 201
    clash = http.post(
        f"{sandbox.base_url}{BASE}/companies",
        json={"properties": {"name": "new", "handoff_account_key": "acme.com"}},
    )
    assert clash.status_code == 409


def test_merge_errors(sandbox, http) -> None:
    a = _company(http, sandbox, name="A")
    url = f"{sandbox.base_url}{BASE}/companies/merge"
    same = http.post(url, json={"primaryObjectId": a, "objectIdToMerge": a})
    assert same.status_code == 400 and same.json()["category"] == "VALIDATION_ERROR"
    missing = http.post(url, json={"primaryObjectId": a, "objectIdToMerge": "999"})
    assert missing.status_code == 404
    assert http.post(url, json={"primaryObjectId": a}).status_code == 400


def test_property_history_newest_first(sandbox, http) -> None:
    cid = _company(http, sandbox, name="One")
    sandbox.admin("POST", "clock/advance", {"hours": 1})
    http.patch(
        f"{sandbox.base_url}{BASE}/companies/{cid}", json={"properties": {"name": "Two"}}
    ).raise_for_status()
    http.patch(
        f"{sandbox.base_url}{BASE}/companies/{cid}", json={"properties": {"name": "Two"}}
    ).raise_for_status()  # no change: no history entry
    body = http.post(
        f"{sandbox.base_url}{BASE}/companies/batch/read",
        json={"inputs": [{"id": cid}], "properties": ["name"], "propertiesWithHistory": ["name"]},
    ).json()
    history = body["results"][0]["propertiesWithHistory"]["name"]
    assert [h["value"] for h in history] == ["Two", "One"]
    assert history[0]["timestamp"] > history[1]["timestamp"]
    assert {h["sourceType"] for h in history} == {"API"}
    single = http.get(
        f"{sandbox.base_url}{BASE}/companies/{cid}", params={"propertiesWithHistory": "name"}
    ).json()
    assert [h["value"] for h in single["propertiesWithHistory"]["name"]] == ["Two", "One"]
    # without the parameter, no history
    assert (
        "propertiesWithHistory" not in http.get(f"{sandbox.base_url}{BASE}/companies/{cid}").json()
    )


@pytest.mark.parametrize("n,status", [(50, 200), (51, 400)])
def test_history_batch_reads_take_at_most_50(sandbox, http, n: int, status: int) -> None:
    response = http.post(
        f"{sandbox.base_url}{BASE}/companies/batch/read",
        json={
            "inputs": [{"id": str(10_000_001 + i)} for i in range(n)],
            "properties": ["name"],
            "propertiesWithHistory": ["name"],
        },
    )
    assert response.status_code in ((200, 207) if status == 200 else (400,))
    if status == 400:
        assert "property histories is 50" in response.json()["message"]
