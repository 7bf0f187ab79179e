"""HubSpot properties, property groups, pipelines and owners through the official client."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyUpdate
from hubspot.crm.properties.exceptions import ApiException


def test_default_properties_exist_per_object(hubspot):
    expected = {
        "companies": {"name", "domain", "hs_lastmodifieddate", "createdate", "hs_object_id"},
        "contacts": {"email", "firstname", "lastname", "jobtitle", "lastmodifieddate"},
        "deals": {
            "dealname",
            "amount",
            "dealstage",
            "pipeline",
            "closedate",
            "hs_lastmodifieddate",
        },
        "tasks": {
            "hs_task_subject",
            "hs_task_body",
            "hs_task_status",
            "hs_timestamp",
            "hubspot_owner_id",
            "hs_task_priority",
        },
    }
    for object_type, names in expected.items():
        listed = hubspot.crm.properties.core_api.get_all(object_type)
        assert names <= {p.name for p in listed.results}


def test_group_and_property_lifecycle(hubspot):
    groups = hubspot.crm.properties.groups_api
    core = hubspot.crm.properties.core_api
    group = groups.create("companies", PropertyGroupCreate(name="handoff", label="Handoff"))
    assert group.name == "handoff"
    assert "handoff" in {g.name for g in groups.get_all("companies").results}
    created = core.create(
        "companies",
        PropertyCreate(
            name="handoff_tier",
            label="Handoff tier",
            type="enumeration",
            field_type="select",
            group_name="handoff",
            options=[
                OptionInput(label="A", value="a", display_order=0, hidden=False),
                OptionInput(label="B", value="b", display_order=1, hidden=False),
            ],
        ),
    )
    assert created.type == "enumeration" and [o.value for o in created.options] == ["a", "b"]
    fetched = core.get_by_name("companies", "handoff_tier")
    assert fetched.group_name == "handoff"
    updated = core.update(
        "companies",
        "handoff_tier",
        PropertyUpdate(
            label="Tier",
            options=[
                OptionInput(label="A", value="a", display_order=0, hidden=False),
                OptionInput(label="B", value="b", display_order=1, hidden=False),
                OptionInput(label="C", value="c", display_order=2, hidden=False),
            ],
        ),
    )
    assert updated.label == "Tier" and len(updated.options) == 3
    core.archive("companies", "handoff_tier")
    with pytest.raises(ApiException) as caught:
        core.get_by_name("companies", "handoff_tier")
    assert caught.value.status == 404


def test_enumeration_options_are_enforced_on_writes(sandbox, http):
    base = f"{sandbox.base_url}/crm/v3"
    http.post(
        f"{base}/properties/companies",
        json={
            "name": "handoff_disposition",
            "label": "Disposition",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "companyinformation",
            "options": [{"label": "Accepted", "value": "accepted"}],
        },
    ).raise_for_status()
    ok = http.post(
        f"{base}/objects/companies", json={"properties": {"handoff_disposition": "accepted"}}
    )
    assert ok.status_code == 201
    bad = http.post(
        f"{base}/objects/companies", json={"properties": {"handoff_disposition": "maybe"}}
    )
    assert bad.status_code == 400 and "INVALID_OPTION" in bad.json()["message"]


def test_creating_an_existing_property_is_a_409(hubspot):
    body = PropertyCreate(
        name="handoff_score",
        label="Score",
        type="number",
        field_type="number",
        group_name="companyinformation",
    )
    hubspot.crm.properties.core_api.create("companies", body)
    with pytest.raises(ApiException) as caught:
        hubspot.crm.properties.core_api.create("companies", body)
    assert caught.value.status == 409
    assert json.loads(caught.value.body)["category"] == "OBJECT_ALREADY_EXISTS"


@pytest.mark.parametrize(
    "body",
    [
        {
            "name": "x1",
            "label": "X",
            "type": "text",
            "fieldType": "text",
            "groupName": "companyinformation",
        },
        {
            "name": "x2",
            "label": "X",
            "type": "number",
            "fieldType": "select",
            "groupName": "companyinformation",
        },
        {"name": "x3", "label": "X", "type": "string", "fieldType": "text", "groupName": "nope"},
        {
            "name": "X-4",
            "label": "X",
            "type": "string",
            "fieldType": "text",
            "groupName": "companyinformation",
        },
        {
            "name": "x5",
            "label": "X",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "companyinformation",
        },
        {
            "name": "x6",
            "label": "X",
            "type": "bool",
            "fieldType": "booleancheckbox",
            "groupName": "companyinformation",
            "hasUniqueValue": True,
        },
    ],
)
def test_invalid_property_definitions_are_400(sandbox, http, body):
    response = http.post(f"{sandbox.base_url}/crm/v3/properties/companies", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_each_property_type_validates_values(sandbox, http):
    base = f"{sandbox.base_url}/crm/v3"
    for name, type_, field in [
        ("p_bool", "bool", "booleancheckbox"),
        ("p_date", "date", "date"),
        ("p_phone", "phone_number", "phonenumber"),
    ]:
        http.post(
            f"{base}/properties/companies",
            json={
                "name": name,
                "label": name,
                "type": type_,
                "fieldType": field,
                "groupName": "companyinformation",
            },
        ).raise_for_status()
    good = http.post(
        f"{base}/objects/companies",
        json={"properties": {"p_bool": True, "p_date": "2026-03-01", "p_phone": "+1 555 0100"}},
    )
    assert good.status_code == 201, good.text
    record = http.get(
        f"{base}/objects/companies/{good.json()['id']}",
        params={"properties": "p_bool,p_date,p_phone"},
    ).json()
    assert record["properties"] == {
        "p_bool": "true",
        "p_date": "2026-03-01",
        "p_phone": "+1 555 0100",
    }
    for props, code in [
        ({"p_bool": "perhaps"}, "INVALID_BOOLEAN"),
        ({"p_date": "2026-03-01T10:00:00Z"}, "INVALID_DATE"),
        ({"p_date": "yesterday"}, "INVALID_DATE"),
    ]:
        bad = http.post(f"{base}/objects/companies", json={"properties": props})
        assert bad.status_code == 400 and code in bad.json()["message"], (props, bad.text)


def test_deal_pipelines_carry_closed_and_probability(hubspot):
    pipelines = hubspot.crm.pipelines.pipelines_api.get_all("deals").results
    assert [p.id for p in pipelines] == ["default"]
    stages = {s.id: s.metadata for s in pipelines[0].stages}
    assert stages["closedwon"] == {"isClosed": "true", "probability": "1.0"}
    assert stages["closedlost"] == {"isClosed": "true", "probability": "0.0"}
    assert stages["appointmentscheduled"]["isClosed"] == "false"
    assert next(iter(stages)) == "appointmentscheduled"


def test_owners_are_seeded_and_configurable(sandbox, hubspot):
    owners = hubspot.crm.owners.owners_api.get_page(limit=100).results
    assert len(owners) == 6
    assert all(o.email and o.first_name and o.last_name and o.id for o in owners)
    one = hubspot.crm.owners.owners_api.get_page(email=owners[2].email).results
    assert [o.id for o in one] == [owners[2].id]
    assert hubspot.crm.owners.owners_api.get_by_id(int(owners[0].id)).email == owners[0].email
    sandbox.admin(
        "PATCH",
        "settings",
        {
            "hubspot_owners": [
                {"id": "42", "email": "solo@example.com", "firstName": "S", "lastName": "O"}
            ]
        },
    )
    assert [o.id for o in hubspot.crm.owners.owners_api.get_page().results] == ["42"]


def test_owner_ids_are_valid_values_of_hubspot_owner_id(sandbox, hubspot, http):
    owner = hubspot.crm.owners.owners_api.get_page().results[0]
    response = http.post(
        f"{sandbox.base_url}/crm/v3/objects/tasks",
        json={"properties": {"hs_timestamp": "2026-01-01T00:00:00Z", "hubspot_owner_id": owner.id}},
    )
    assert response.status_code == 201, response.text
