"""HubSpot associations (v4 default and labelled, v3 create inputs) via the official client."""

from __future__ import annotations

import pytest
from hubspot.crm.associations.v4 import (
    AssociationSpec,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.associations.v4.exceptions import ApiException


def create(http, base_url, object_type, properties, associations=None):
    body = {"properties": properties}
    if associations:
        body["associations"] = associations
    response = http.post(f"{base_url}/crm/v3/objects/{object_type}", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def task(http, base_url, **extra):
    return create(
        http,
        base_url,
        "tasks",
        {"hs_timestamp": "2026-01-01T00:00:00Z", "hs_task_subject": "Call"},
        **extra,
    )


def test_default_association_both_directions(sandbox, hubspot, http):
    company = create(http, sandbox.base_url, "companies", {"name": "Acme"})
    task_id = task(http, sandbox.base_url)
    result = hubspot.crm.associations.v4.basic_api.create_default(
        "tasks", task_id, "companies", company
    )
    assert {(r._from.id, r.to.id) for r in result.results} == {
        (task_id, company),
        (company, task_id),
    }
    assert {r.association_spec.association_type_id for r in result.results} == {191, 192}
    listed = hubspot.crm.associations.v4.basic_api.get_page("companies", company, "tasks")
    assert [str(r.to_object_id) for r in listed.results] == [task_id]
    assert listed.results[0].association_types[0].type_id == 191


def test_associations_in_create_inputs_and_v3_reads(sandbox, http):
    company = create(http, sandbox.base_url, "companies", {"name": "Acme"})
    task_id = task(
        http,
        sandbox.base_url,
        associations=[
            {
                "to": {"id": company},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}],
            }
        ],
    )
    read = http.get(
        f"{sandbox.base_url}/crm/v3/objects/companies/{company}", params={"associations": "tasks"}
    ).json()
    assert read["associations"]["tasks"]["results"] == [{"id": task_id, "type": "company_to_task"}]


def test_batch_default_and_batch_read(sandbox, hubspot, http):
    companies = [create(http, sandbox.base_url, "companies", {"name": f"C{i}"}) for i in range(2)]
    deals = [create(http, sandbox.base_url, "deals", {"dealname": f"D{i}"}) for i in range(2)]
    batch = hubspot.crm.associations.v4.batch_api
    batch.create_default(
        "deals",
        "companies",
        BatchInputPublicDefaultAssociationMultiPost(
            inputs=[
                PublicDefaultAssociationMultiPost(_from={"id": d}, to={"id": c})
                for d, c in zip(deals, companies, strict=True)
            ]
        ),
    )
    read = batch.get_page(
        "companies",
        "deals",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=c) for c in companies]
        ),
    )
    pairs = {(r._from.id, str(r.to[0].to_object_id)) for r in read.results}
    assert pairs == {(companies[0], deals[0]), (companies[1], deals[1])}


def test_labelled_association_and_delete(sandbox, hubspot, http):
    contact = create(http, sandbox.base_url, "contacts", {"email": "x@y.co"})
    company = create(http, sandbox.base_url, "companies", {"name": "Acme"})
    basic = hubspot.crm.associations.v4.basic_api
    labelled = basic.create(
        "contacts",
        contact,
        "companies",
        company,
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
    )
    assert labelled.labels == ["Primary"]
    basic.archive("contacts", contact, "companies", company)
    assert basic.get_page("contacts", contact, "companies").results == []


def test_associating_a_missing_record_is_404(sandbox, hubspot, http):
    company = create(http, sandbox.base_url, "companies", {"name": "Acme"})
    with pytest.raises(ApiException) as caught:
        hubspot.crm.associations.v4.basic_api.create_default("tasks", "999", "companies", company)
    assert caught.value.status == 404
