"""HubSpot search through the official client and raw HTTP: filters, sorts, paging, caps."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputForCreate,
)
from hubspot.crm.companies.exceptions import ApiException


def seed_companies(hubspot, rows):
    for start in range(0, len(rows), 100):
        hubspot.crm.companies.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    SimplePublicObjectBatchInputForCreate(properties=props)
                    for props in rows[start : start + 100]
                ]
            )
        )


def names(result):
    return [r.properties["name"] for r in result.results]


def search(hubspot, groups=(), **kwargs):
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(**f) for f in group]) for group in groups],
        **kwargs,
    )
    return hubspot.crm.companies.search_api.do_search(request)


@pytest.fixture
def companies(hubspot):
    seed_companies(
        hubspot,
        [
            {"name": "Alpha", "domain": "alpha.io", "numberofemployees": "10", "city": "Oslo"},
            {"name": "Bravo", "domain": "bravo.com", "numberofemployees": "250", "city": "Rome"},
            {"name": "Charlie", "domain": "charlie.com", "numberofemployees": "40"},
            {
                "name": "Delta Labs",
                "domain": "delta.io",
                "numberofemployees": "1200",
                "city": "Oslo",
            },
        ],
    )


def test_filters_are_anded_within_a_group_and_ored_across(hubspot, companies):
    both = search(
        hubspot,
        [
            [
                {"property_name": "city", "operator": "EQ", "value": "oslo"},
                {"property_name": "numberofemployees", "operator": "GT", "value": "100"},
            ]
        ],
        properties=["name"],
    )
    assert names(both) == ["Delta Labs"]
    either = search(
        hubspot,
        [
            [{"property_name": "city", "operator": "EQ", "value": "Rome"}],
            [{"property_name": "numberofemployees", "operator": "LT", "value": "20"}],
        ],
        properties=["name"],
        sorts=["name"],
    )
    assert names(either) == ["Alpha", "Bravo"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"operator": "NEQ", "property_name": "city", "value": "Oslo"}, ["Bravo", "Charlie"]),
        (
            {"operator": "LTE", "property_name": "numberofemployees", "value": "40"},
            ["Alpha", "Charlie"],
        ),
        (
            {"operator": "GTE", "property_name": "numberofemployees", "value": "250"},
            ["Bravo", "Delta Labs"],
        ),
        (
            {
                "operator": "BETWEEN",
                "property_name": "numberofemployees",
                "value": "40",
                "high_value": "250",
            },
            ["Bravo", "Charlie"],
        ),
        (
            {"operator": "IN", "property_name": "city", "values": ["rome", "oslo"]},
            ["Alpha", "Bravo", "Delta Labs"],
        ),
        ({"operator": "NOT_IN", "property_name": "city", "values": ["oslo"]}, ["Bravo", "Charlie"]),
        ({"operator": "HAS_PROPERTY", "property_name": "city"}, ["Alpha", "Bravo", "Delta Labs"]),
        ({"operator": "NOT_HAS_PROPERTY", "property_name": "city"}, ["Charlie"]),
        ({"operator": "CONTAINS_TOKEN", "property_name": "name", "value": "labs"}, ["Delta Labs"]),
        (
            {"operator": "CONTAINS_TOKEN", "property_name": "domain", "value": "*.io"},
            ["Alpha", "Delta Labs"],
        ),
        (
            {"operator": "NOT_CONTAINS_TOKEN", "property_name": "domain", "value": "*.io"},
            ["Bravo", "Charlie"],
        ),
    ],
)
def test_operators(hubspot, companies, flt, expected):
    result = search(hubspot, [[flt]], properties=["name"], sorts=["name"])
    assert names(result) == expected
    assert result.total == len(expected)


def test_sorts_descending_and_by_number(hubspot, companies):
    result = search(
        hubspot,
        sorts=[json.dumps({"propertyName": "numberofemployees", "direction": "DESCENDING"})],
        properties=["name", "numberofemployees"],
    )
    assert names(result) == ["Delta Labs", "Bravo", "Charlie", "Alpha"]


def test_paging_with_after(hubspot):
    seed_companies(hubspot, [{"name": f"N{i:03d}"} for i in range(25)])
    seen, after = [], None
    while True:
        page = search(hubspot, sorts=["name"], properties=["name"], limit=10, after=after)
        seen += names(page)
        assert page.total == 25
        if page.paging is None:
            break
        after = page.paging.next.after
    assert seen == [f"N{i:03d}" for i in range(25)]


def test_incremental_pull_by_last_modified(sandbox, hubspot):
    seed_companies(hubspot, [{"name": "Old"}])
    sandbox.admin("POST", "clock/advance", {"hours": 2})
    cutoff = sandbox.admin("GET", "clock")["now"]
    seed_companies(hubspot, [{"name": "New"}])
    result = search(
        hubspot,
        [[{"property_name": "hs_lastmodifieddate", "operator": "GTE", "value": cutoff}]],
        sorts=["hs_lastmodifieddate"],
        properties=["name", "hs_lastmodifieddate"],
    )
    assert names(result) == ["New"]


def test_limit_above_200_is_rejected(sandbox, http):
    response = http.post(f"{sandbox.base_url}/crm/v3/objects/companies/search", json={"limit": 201})
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_paging_past_the_result_cap_is_a_400(sandbox, hubspot, http):
    sandbox.admin("PATCH", "settings", {"hubspot_max_search_results": 30})
    seed_companies(hubspot, [{"name": f"N{i:03d}"} for i in range(45)])
    url = f"{sandbox.base_url}/crm/v3/objects/companies/search"
    last = http.post(url, json={"limit": 20, "after": "20", "sorts": ["name"]}).json()
    assert last["total"] == 45
    assert len(last["results"]) == 10  # truncated at the cap
    assert last["paging"]["next"]["after"] == "30"
    beyond = http.post(url, json={"limit": 20, "after": "30"})
    assert beyond.status_code == 400
    assert beyond.json()["category"] == "VALIDATION_ERROR"


def test_default_cap_is_ten_thousand(sandbox, http):
    response = http.post(
        f"{sandbox.base_url}/crm/v3/objects/companies/search", json={"after": "10000"}
    )
    assert response.status_code == 400


def test_unknown_filter_property_is_a_400(hubspot):
    with pytest.raises(ApiException) as caught:
        search(hubspot, [[{"property_name": "nope", "operator": "EQ", "value": "x"}]])
    assert caught.value.status == 400


def test_contacts_search_uses_lastmodifieddate(sandbox, hubspot, http):
    http.post(
        f"{sandbox.base_url}/crm/v3/objects/contacts",
        json={"properties": {"email": "a@b.co", "firstname": "Ann"}},
    )
    from hubspot.crm.contacts import PublicObjectSearchRequest as ContactSearch

    result = hubspot.crm.contacts.search_api.do_search(
        ContactSearch(sorts=["lastmodifieddate"], properties=["email", "lastmodifieddate"], limit=5)
    )
    assert [r.properties["email"] for r in result.results] == ["a@b.co"]
    assert result.results[0].properties["lastmodifieddate"].endswith("Z")
