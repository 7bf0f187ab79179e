"""Injected faults: 429, 5xx, 423, slow responses, dropped connections, bad records;
determinism under a seed; path prefixes and budgets."""

from __future__ import annotations

import time

import pytest
import requests

from crm_sandbox.faults import FaultInjector


def statuses(http, url, n):
    return [http.get(url).status_code for _ in range(n)]


def test_429_faults_with_a_budget(sandbox, http):
    sandbox.admin("PUT", "faults", {"rate_429": 1.0, "max_faults": 2})
    url = f"{sandbox.base_url}/crm/v3/objects/companies"
    first = http.get(url)
    assert first.status_code == 429
    assert first.json()["errorType"] == "RATE_LIMIT"
    assert "X-HubSpot-RateLimit-Max" in first.headers
    assert statuses(http, url, 2) == [429, 200]
    log = sandbox.requests(path="/crm/v3/objects/companies")
    assert [e["fault"] for e in log] == ["429", "429", None]
    assert sandbox.admin("GET", "faults")["injected"] == {"429": 2}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_faults_use_hubspot_error_shape(sandbox, http, status):
    sandbox.admin("PUT", "faults", {"rate_5xx": 1.0, "statuses_5xx": [status]})
    response = http.get(f"{sandbox.base_url}/crm/v3/objects/companies")
    assert response.status_code == status
    assert response.json()["status"] == "error" and response.json()["correlationId"]


def test_423_locked(sandbox, http):
    sandbox.admin("PUT", "faults", {"rate_423": 1.0})
    response = http.post(
        f"{sandbox.base_url}/crm/v3/objects/companies", json={"properties": {"name": "A"}}
    )
    assert response.status_code == 423
    assert response.json()["category"] == "LOCKED"
    assert sandbox.admin("GET", "state")["apis"]["hubspot"]["objects"]["companies"] == []


def test_slow_responses(sandbox, http):
    sandbox.admin("PUT", "faults", {"rate_slow": 1.0, "slow_seconds": 0.3})
    started = time.perf_counter()
    assert http.get(f"{sandbox.base_url}/crm/v3/objects/companies").status_code == 200
    assert time.perf_counter() - started >= 0.3
    assert sandbox.requests()[-1]["fault"] == "slow"


def test_dropped_connection(sandbox, http):
    sandbox.admin("PUT", "faults", {"rate_drop": 1.0, "max_faults": 1})
    with pytest.raises(requests.ConnectionError):
        http.get(f"{sandbox.base_url}/crm/v3/objects/companies")
    assert http.get(f"{sandbox.base_url}/crm/v3/objects/companies").status_code == 200
    log = sandbox.requests()
    assert [(e["status"], e["fault"]) for e in log] == [(0, "drop"), (200, None)]


def test_path_prefix_limits_faults(sandbox, http):
    sandbox.admin("PUT", "faults", {"rate_5xx": 1.0, "path_prefix": "/crm/v3/objects/deals"})
    assert http.get(f"{sandbox.base_url}/crm/v3/objects/companies").status_code == 200
    assert http.get(f"{sandbox.base_url}/crm/v3/objects/deals").status_code >= 500


def test_faults_are_deterministic_under_a_seed(sandbox, http):
    url = f"{sandbox.base_url}/crm/v3/objects/companies"
    sandbox.admin("PUT", "faults", {"rate_5xx": 0.5, "seed": 11})
    first = statuses(http, url, 24)
    sandbox.admin("PUT", "faults", {"rate_5xx": 0.5, "seed": 11})
    again = statuses(http, url, 24)
    sandbox.admin("PUT", "faults", {"rate_5xx": 0.5, "seed": 12})
    other = statuses(http, url, 24)
    assert first == again
    assert first != other
    assert 200 in first and any(s >= 500 for s in first)


def test_record_failures_are_per_record_and_stable(sandbox, http):
    base = f"{sandbox.base_url}/crm/v3"
    http.post(
        f"{base}/properties/companies",
        json={
            "name": "handoff_key",
            "label": "Key",
            "type": "string",
            "fieldType": "text",
            "groupName": "companyinformation",
            "hasUniqueValue": True,
        },
    ).raise_for_status()
    sandbox.admin("PUT", "faults", {"record_fail_rate": 0.5, "seed": 3})
    inputs = [
        {
            "idProperty": "handoff_key",
            "id": f"k{i}",
            "properties": {"name": f"n{i}"},
            "objectWriteTraceId": f"k{i}",
        }
        for i in range(20)
    ]
    url = f"{base}/objects/companies/batch/upsert"
    first = http.post(url, json={"inputs": inputs})
    assert first.status_code == 207
    failed = sorted(e["context"]["objectWriteTraceId"][0] for e in first.json()["errors"])
    assert 0 < len(failed) < 20
    second = http.post(url, json={"inputs": inputs}).json()
    assert sorted(e["context"]["objectWriteTraceId"][0] for e in second["errors"]) == failed
    sandbox.admin("PUT", "faults", {})
    assert http.post(url, json={"inputs": inputs}).status_code == 200


def test_invalid_fault_config_is_rejected(sandbox, http):
    response = http.put(f"{sandbox.base_url}/_sandbox/faults", json={"rate_429": 2})
    assert response.status_code == 400
    response = http.put(f"{sandbox.base_url}/_sandbox/faults", json={"bogus": 1})
    assert response.status_code == 400


def test_injector_is_reachable_for_api_modules():
    injector = FaultInjector(seed=5, config={"record_fail_rate": 1.0, "path_prefix": "/services/"})
    assert injector.record_fails("Account:1", "/services/data/v59.0/sobjects")
    assert not injector.record_fails("Account:1", "/crm/v3/objects/companies")
    assert not FaultInjector(seed=5).record_fails("Account:1")
