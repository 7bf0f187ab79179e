"""HubSpot rate-limit headers and 429 bodies (rolling window, daily, search) and 401s."""

from __future__ import annotations

import json
import time

import pytest
from hubspot import HubSpot
from hubspot.crm.companies.exceptions import ApiException

HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
)


def test_every_response_carries_rate_limit_headers(sandbox, http):
    url = f"{sandbox.base_url}/crm/v3/objects/companies"
    ok = http.get(url)
    missing = http.get(f"{url}/12345")
    invalid = http.post(url, json={"properties": {"nope": 1}})
    for response in (ok, missing, invalid):
        assert all(h in response.headers for h in HEADERS), response.headers
    assert ok.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert ok.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(invalid.headers["X-HubSpot-RateLimit-Remaining"]) == 190 - 3
    assert int(ok.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == 1_000_000 - 1


def test_rolling_window_429(sandbox, http):
    sandbox.admin("PATCH", "settings", {"hubspot_rate_limit": 3, "hubspot_window_ms": 400})
    url = f"{sandbox.base_url}/crm/v3/objects/companies"
    statuses = [http.get(url).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = http.get(url)
    body = limited.json()
    assert body["status"] == "error"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["correlationId"]
    assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert limited.headers["X-HubSpot-RateLimit-Max"] == "3"
    time.sleep(0.45)
    assert http.get(url).status_code == 200


def test_daily_limit_429_resets_with_the_simulated_day(sandbox, http):
    sandbox.admin("PATCH", "settings", {"hubspot_daily_limit": 2})
    url = f"{sandbox.base_url}/crm/v3/objects/companies"
    assert [http.get(url).status_code for _ in range(2)] == [200, 200]
    limited = http.get(url)
    assert limited.status_code == 429
    assert limited.json()["policyName"] == "DAILY"
    assert limited.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    sandbox.admin("POST", "clock/advance", {"days": 1})
    assert http.get(url).status_code == 200


def test_search_has_its_own_lower_limit(sandbox, http):
    sandbox.admin(
        "PATCH", "settings", {"hubspot_search_rate_limit": 2, "hubspot_search_window_ms": 60_000}
    )
    url = f"{sandbox.base_url}/crm/v3/objects/companies/search"
    statuses = [http.post(url, json={}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert http.get(f"{sandbox.base_url}/crm/v3/objects/companies").status_code == 200


def test_the_client_sees_429_as_api_exception(sandbox, hubspot):
    sandbox.admin("PATCH", "settings", {"hubspot_rate_limit": 1, "hubspot_window_ms": 60_000})
    hubspot.crm.companies.basic_api.get_page()
    with pytest.raises(ApiException) as caught:
        hubspot.crm.companies.basic_api.get_page()
    assert caught.value.status == 429
    assert caught.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert json.loads(caught.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"


@pytest.mark.parametrize("token", [None, "wrong"])
def test_bad_or_missing_token_is_401(sandbox, token):
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(
        f"{sandbox.base_url}/crm/v3/objects/companies", headers=headers, verify=sandbox.ca_bundle
    )
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["correlationId"] and body["message"]


def test_the_client_with_a_wrong_token_gets_401(sandbox):
    client = HubSpot(access_token="nope", host=sandbox.base_url, ssl_ca_cert=sandbox.ca_bundle)
    with pytest.raises(ApiException) as caught:
        client.crm.companies.basic_api.get_page()
    assert caught.value.status == 401


def test_unknown_hubspot_paths_are_404_in_hubspot_shape(sandbox, http):
    response = http.get(f"{sandbox.base_url}/crm/v3/imports")
    assert response.status_code == 404
    assert response.json()["status"] == "error"
    assert "X-HubSpot-RateLimit-Max" in response.headers
