"""HubSpot objects through the official client: CRUD, batch create/update/upsert/read/archive,
207 multi-status with objectWriteTraceId, unique values, validation errors."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.companies.exceptions import ApiException


def make_key_property(http, base_url, name="handoff_key", object_type="companies"):
    response = http.post(
        f"{base_url}/crm/v3/properties/{object_type}",
        json={
            "name": name,
            "label": "Handoff key",
            "type": "string",
            "fieldType": "text",
            "groupName": "companyinformation" if object_type == "companies" else "dealinformation",
            "hasUniqueValue": True,
        },
    )
    assert response.status_code == 201, response.text


def upsert_inputs(rows, trace=False):
    return BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id_property="handoff_key",
                id=key,
                properties=props,
                object_write_trace_id=f"trace-{key}" if trace else None,
            )
            for key, props in rows
        ]
    )


def test_crud_round_trip(hubspot):
    created = hubspot.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Acme", "domain": "acme.com"})
    )
    assert created.id.isdigit()
    assert created.properties["name"] == "Acme"
    assert created.properties["hs_object_id"] == created.id
    fetched = hubspot.crm.companies.basic_api.get_by_id(created.id, properties=["name", "city"])
    assert fetched.properties == {"name": "Acme", "city": None}
    updated = hubspot.crm.companies.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"city": "Lisbon"})
    )
    assert updated.properties["city"] == "Lisbon"
    assert updated.updated_at >= created.updated_at
    hubspot.crm.companies.basic_api.archive(created.id)
    with pytest.raises(ApiException) as caught:
        hubspot.crm.companies.basic_api.get_by_id(created.id)
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["category"] == "OBJECT_NOT_FOUND"


def test_get_page_paginates(hubspot):
    for i in range(5):
        hubspot.crm.companies.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"name": f"C{i}"})
        )
    first = hubspot.crm.companies.basic_api.get_page(limit=3, properties=["name"])
    assert [c.properties["name"] for c in first.results] == ["C0", "C1", "C2"]
    second = hubspot.crm.companies.basic_api.get_page(
        limit=3, after=first.paging.next.after, properties=["name"]
    )
    assert [c.properties["name"] for c in second.results] == ["C3", "C4"]
    assert second.paging is None


def test_batch_upsert_creates_then_updates_with_new_flags(sandbox, hubspot, http):
    make_key_property(http, sandbox.base_url)
    first = hubspot.crm.companies.batch_api.upsert(
        upsert_inputs([("A-1", {"name": "Alpha"}), ("A-2", {"name": "Beta"})])
    )
    assert first.status == "COMPLETE"
    assert sorted((r.properties["handoff_key"], r.new) for r in first.results) == [
        ("A-1", True),
        ("A-2", True),
    ]
    second = hubspot.crm.companies.batch_api.upsert(
        upsert_inputs([("A-1", {"name": "Alpha 2"}), ("A-3", {"name": "Gamma"})])
    )
    by_key = {r.properties["handoff_key"]: r for r in second.results}
    assert by_key["A-1"].new is False and by_key["A-1"].properties["name"] == "Alpha 2"
    assert by_key["A-3"].new is True
    ids = {r.id for r in first.results}
    assert by_key["A-1"].id in ids
    assert len(hubspot.crm.companies.basic_api.get_page(limit=100).results) == 3


def test_upsert_with_unchanged_values_keeps_last_modified(sandbox, hubspot, http):
    make_key_property(http, sandbox.base_url)
    first = hubspot.crm.companies.batch_api.upsert(upsert_inputs([("K", {"name": "Same"})]))
    sandbox.admin("POST", "clock/advance", {"hours": 1})
    again = hubspot.crm.companies.batch_api.upsert(upsert_inputs([("K", {"name": "Same"})]))
    assert again.results[0].updated_at == first.results[0].updated_at
    changed = hubspot.crm.companies.batch_api.upsert(upsert_inputs([("K", {"name": "Other"})]))
    assert changed.results[0].updated_at > first.results[0].updated_at
    modified = changed.results[0].properties["hs_lastmodifieddate"]
    assert modified.startswith(sandbox.admin("GET", "clock")["now"][:13])


def test_upsert_requires_a_unique_id_property(sandbox, http):
    response = http.post(
        f"{sandbox.base_url}/crm/v3/objects/companies/batch/upsert",
        json={"inputs": [{"idProperty": "domain", "id": "x.com", "properties": {}}]},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR"
    assert "correlationId" in body


def test_more_than_100_inputs_is_a_400(sandbox, http):
    make_key_property(http, sandbox.base_url)
    inputs = [{"idProperty": "handoff_key", "id": f"k{i}", "properties": {}} for i in range(101)]
    response = http.post(
        f"{sandbox.base_url}/crm/v3/objects/companies/batch/upsert", json={"inputs": inputs}
    )
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert sandbox.admin("GET", "state")["apis"]["hubspot"]["objects"]["companies"] == []


def test_207_attributes_failures_by_object_write_trace_id(sandbox, hubspot, http):
    make_key_property(http, sandbox.base_url)
    rows = [
        ("ok-1", {"name": "Fine"}),
        ("bad-1", {"name": "Broken", "numberofemployees": "lots"}),
        ("ok-2", {"name": "Also fine"}),
    ]
    response, status, _headers = hubspot.crm.companies.batch_api.upsert_with_http_info(
        upsert_inputs(rows, trace=True)
    )
    assert status == 207
    assert response.num_errors == 1
    assert sorted(r.properties["handoff_key"] for r in response.results) == ["ok-1", "ok-2"]
    assert {r.object_write_trace_id for r in response.results} == {"trace-ok-1", "trace-ok-2"}
    error = response.errors[0]
    assert error.category == "VALIDATION_ERROR"
    assert error.context["objectWriteTraceId"] == ["trace-bad-1"]
    assert "INVALID_INTEGER" in error.message
    stored = sandbox.admin("GET", "state")["apis"]["hubspot"]["objects"]["companies"]
    assert sorted(r["properties"]["handoff_key"] for r in stored) == ["ok-1", "ok-2"]


def test_without_trace_ids_one_bad_input_fails_the_whole_batch(sandbox, hubspot, http):
    make_key_property(http, sandbox.base_url)
    rows = [("ok-1", {"name": "Fine"}), ("bad-1", {"nonexistent_prop": "x"})]
    with pytest.raises(ApiException) as caught:
        hubspot.crm.companies.batch_api.upsert(upsert_inputs(rows))
    assert caught.value.status == 400
    body = json.loads(caught.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert "PROPERTY_DOESNT_EXIST" in body["message"]
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert body["errors"][0]["context"] == {"propertyName": ["nonexistent_prop"]}
    assert sandbox.admin("GET", "state")["apis"]["hubspot"]["objects"]["companies"] == []


@pytest.mark.parametrize(
    ("properties", "code"),
    [
        ({"numberofemployees": "twelve"}, "INVALID_INTEGER"),
        ({"lifecyclestage": "friend"}, "INVALID_OPTION"),
        ({"unknown_thing": "x"}, "PROPERTY_DOESNT_EXIST"),
        ({"hs_lastmodifieddate": "2024-01-01T00:00:00Z"}, "READ_ONLY_VALUE"),
        ({"hubspot_owner_id": "1"}, "INVALID_OPTION"),
    ],
)
def test_invalid_values_are_400_validation_errors(sandbox, http, properties, code):
    response = http.post(
        f"{sandbox.base_url}/crm/v3/objects/companies", json={"properties": properties}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: ")
    results = json.loads(body["message"].removeprefix("Property values were not valid: "))
    assert results[0]["error"] == code and results[0]["isValid"] is False
    assert body["errors"][0]["code"] == code


def test_values_are_normalised_like_hubspot(sandbox, http):
    response = http.post(
        f"{sandbox.base_url}/crm/v3/objects/deals",
        json={
            "properties": {
                "dealname": "D",
                "amount": 1200.0,
                "closedate": 1_700_000_000_000,
                "pipeline": "default",
                "dealstage": "qualifiedtobuy",
            }
        },
    )
    assert response.status_code == 201, response.text
    props = response.json()["properties"]
    assert props["amount"] == "1200"
    assert props["closedate"] == "2023-11-14T22:13:20.000Z"


def test_deal_stage_must_belong_to_the_pipeline(sandbox, http):
    response = http.post(
        f"{sandbox.base_url}/crm/v3/objects/deals",
        json={"properties": {"dealname": "D", "dealstage": "not-a-stage"}},
    )
    assert response.status_code == 400
    assert "INVALID_OPTION" in response.json()["message"]


def test_unique_value_conflict_on_create_and_update(sandbox, http):
    make_key_property(http, sandbox.base_url)
    url = f"{sandbox.base_url}/crm/v3/objects/companies"
    first = http.post(url, json={"properties": {"handoff_key": "dup"}})
    assert first.status_code == 201
    second = http.post(url, json={"properties": {"handoff_key": "dup"}})
    assert second.status_code == 409
    assert second.json()["category"] == "CONFLICT"
    assert first.json()["id"] in second.json()["message"]
    other = http.post(url, json={"properties": {"handoff_key": "other"}}).json()
    clash = http.patch(f"{url}/{other['id']}", json={"properties": {"handoff_key": "dup"}})
    assert clash.status_code == 409


def test_contact_email_is_unique_like_hubspot(sandbox, http):
    url = f"{sandbox.base_url}/crm/v3/objects/contacts"
    created = http.post(url, json={"properties": {"email": "Ann@Example.com"}}).json()
    again = http.post(url, json={"properties": {"email": "ann@example.com"}})
    assert again.status_code == 409
    assert again.json()["message"] == f"Contact already exists. Existing ID: {created['id']}"


def test_batch_conflict_between_two_inputs_fails_the_batch(sandbox, http):
    make_key_property(http, sandbox.base_url)
    response = http.post(
        f"{sandbox.base_url}/crm/v3/objects/companies/batch/create",
        json={
            "inputs": [{"properties": {"handoff_key": "x"}}, {"properties": {"handoff_key": "x"}}]
        },
    )
    assert response.status_code == 400
    assert sandbox.admin("GET", "state")["apis"]["hubspot"]["objects"]["companies"] == []


def test_batch_create_update_read_archive(hubspot):
    from hubspot.crm.companies import (
        BatchInputSimplePublicObjectBatchInput,
        BatchInputSimplePublicObjectBatchInputForCreate,
        SimplePublicObjectBatchInput,
        SimplePublicObjectBatchInputForCreate,
    )

    batch = hubspot.crm.companies.batch_api
    created = batch.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[SimplePublicObjectBatchInputForCreate(properties={"name": n}) for n in "XYZ"]
        )
    )
    ids = sorted(r.id for r in created.results)
    assert len(ids) == 3
    updated = batch.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=i, properties={"city": "Porto"}) for i in ids[:2]
            ]
        )
    )
    assert {r.properties["city"] for r in updated.results} == {"Porto"}
    read, status, _headers = batch.read_with_http_info(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in [*ids, "999"]],
            properties=["name", "city"],
            properties_with_history=[],
        )
    )
    assert status == 207
    assert sorted(r.id for r in read.results) == ids
    assert read.errors[0].context["ids"] == ["999"]
    batch.archive(BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=ids[0])]))
    remaining = hubspot.crm.companies.basic_api.get_page(limit=10).results
    assert sorted(r.id for r in remaining) == ids[1:]


def test_batch_update_of_a_missing_id_is_attributed_with_trace_ids(sandbox, http):
    url = f"{sandbox.base_url}/crm/v3/objects/companies"
    real = http.post(url, json={"properties": {"name": "Real"}}).json()["id"]
    response = http.post(
        f"{url}/batch/update",
        json={
            "inputs": [
                {"id": real, "properties": {"name": "R2"}, "objectWriteTraceId": "t1"},
                {"id": "424242", "properties": {"name": "X"}, "objectWriteTraceId": "t2"},
            ]
        },
    )
    assert response.status_code == 207
    body = response.json()
    assert body["numErrors"] == 1
    assert body["errors"][0]["context"]["objectWriteTraceId"] == ["t2"]
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["results"][0]["properties"]["name"] == "R2"


def test_read_by_unique_id_property(sandbox, hubspot, http):
    make_key_property(http, sandbox.base_url)
    hubspot.crm.companies.batch_api.upsert(upsert_inputs([("KEY-9", {"name": "Nine"})]))
    found = hubspot.crm.companies.basic_api.get_by_id(
        "KEY-9", id_property="handoff_key", properties=["name"]
    )
    assert found.properties["name"] == "Nine"
    archived = http.delete(
        f"{sandbox.base_url}/crm/v3/objects/companies/KEY-9", params={"idProperty": "handoff_key"}
    )
    assert archived.status_code == 204
    again = hubspot.crm.companies.batch_api.upsert(upsert_inputs([("KEY-9", {"name": "Nine"})]))
    assert again.results[0].new is True  # the archived record released its unique value


def test_tasks_need_a_timestamp(sandbox, http):
    url = f"{sandbox.base_url}/crm/v3/objects/tasks"
    missing = http.post(url, json={"properties": {"hs_task_subject": "Call"}})
    assert missing.status_code == 400
    ok = http.post(
        url,
        json={
            "properties": {
                "hs_task_subject": "Call",
                "hs_timestamp": "2026-01-05T10:00:00Z",
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": "HIGH",
            }
        },
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["properties"]["hs_timestamp"] == "2026-01-05T10:00:00.000Z"


def test_request_log_counts_records(sandbox, hubspot, http):
    make_key_property(http, sandbox.base_url)
    since = sandbox.admin("GET", "requests")["next_index"]
    hubspot.crm.companies.batch_api.upsert(
        upsert_inputs([(f"k{i}", {"name": str(i)}) for i in range(7)])
    )
    entries = sandbox.requests(since=since, path="/crm/v3/objects/companies/batch")
    assert [(e["method"], e["status"], e["records"]) for e in entries] == [("POST", 200, 7)]


def test_concurrent_upserts_keep_unique_values_unique(sandbox, http):
    from concurrent.futures import ThreadPoolExecutor

    from hubspot import HubSpot

    make_key_property(http, sandbox.base_url)

    def worker(n):
        client = HubSpot(
            access_token=sandbox.token, host=sandbox.base_url, ssl_ca_cert=sandbox.ca_bundle
        )
        rows = [(f"K{i}", {"name": f"w{n}"}) for i in range(30)]
        return client.crm.companies.batch_api.upsert(upsert_inputs(rows))

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(worker, range(6)))
    created = sum(r.new for result in results for r in result.results)
    assert created == 30
    stored = sandbox.admin("GET", "state")["apis"]["hubspot"]["objects"]["companies"]
    assert sorted(r["properties"]["handoff_key"] for r in stored) == sorted(
        f"K{i}" for i in range(30)
    )


def test_client_side_retries_ride_out_injected_429s(sandbox):
    from hubspot import HubSpot
    from urllib3.util.retry import Retry

    sandbox.admin("PUT", "faults", {"rate_429": 1.0, "max_faults": 2})
    retry = Retry(total=3, status_forcelist=[429], allowed_methods=None, backoff_factor=0)
    client = HubSpot(
        access_token=sandbox.token,
        host=sandbox.base_url,
        ssl_ca_cert=sandbox.ca_bundle,
        retry=retry,
    )
    created = client.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Retried"})
    )
    assert created.properties["name"] == "Retried"
    log = sandbox.requests(path="/crm/v3/objects/companies")
    assert [e["status"] for e in log] == [429, 429, 201]
