"""Admin endpoints, request log, simulated clock, state persistence and the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from crm_sandbox.server import running_sandbox


def test_health_and_ca_are_public(sandbox):
    health = requests.get(f"{sandbox.base_url}/_sandbox/health", verify=sandbox.ca_bundle)
    assert health.status_code == 200 and "hubspot" in health.json()["apis"]
    ca = requests.get(f"{sandbox.base_url}/_sandbox/ca.pem", verify=sandbox.ca_bundle)
    assert ca.text == Path(sandbox.ca_bundle).read_text()
    assert ca.text.startswith("-----BEGIN CERTIFICATE-----")


def test_other_admin_endpoints_need_the_token(sandbox):
    for method, path in [("GET", "state"), ("POST", "reset"), ("GET", "requests")]:
        response = requests.request(
            method, f"{sandbox.base_url}/_sandbox/{path}", verify=sandbox.ca_bundle
        )
        assert response.status_code == 401, path


def test_admin_calls_are_not_in_the_request_log(sandbox, http):
    http.get(f"{sandbox.base_url}/crm/v3/objects/companies")
    sandbox.admin("GET", "state")
    assert [e["path"] for e in sandbox.requests()] == ["/crm/v3/objects/companies"]


def test_request_log_filters_and_clear(sandbox, http):
    base = f"{sandbox.base_url}/crm/v3"
    http.get(f"{base}/objects/companies")
    http.post(f"{base}/objects/deals", json={"properties": {"dealname": "D"}})
    http.get(f"{base}/owners")
    assert [e["method"] for e in sandbox.requests(method="POST")] == ["POST"]
    assert [e["path"] for e in sandbox.requests(path="/crm/v3/objects")] == [
        "/crm/v3/objects/companies",
        "/crm/v3/objects/deals",
    ]
    log = sandbox.admin("GET", "requests")
    assert log["count"] == 3 and log["records"] == 1
    tail = sandbox.requests(since=log["requests"][1]["index"])
    assert [e["path"] for e in tail] == ["/crm/v3/objects/deals", "/crm/v3/owners"]
    assert sandbox.admin("DELETE", "requests") == {"cleared": 3}
    assert sandbox.requests() == []
    http.get(f"{base}/owners")
    assert sandbox.requests()[0]["index"] == log["next_index"]


def test_reset_clears_state_clock_settings_and_faults(sandbox, http):
    base = f"{sandbox.base_url}/crm/v3"
    http.post(f"{base}/objects/companies", json={"properties": {"name": "A"}})
    sandbox.admin("POST", "clock/advance", {"days": 3})
    sandbox.admin("PATCH", "settings", {"hubspot_rate_limit": 5})
    sandbox.admin("PUT", "faults", {"rate_5xx": 0.5})
    sandbox.admin("POST", "reset")
    assert sandbox.admin("GET", "state")["apis"]["hubspot"]["objects"]["companies"] == []
    assert abs(sandbox.admin("GET", "clock")["offset_seconds"]) < 1
    assert sandbox.admin("GET", "settings")["hubspot_rate_limit"] == 190
    assert sandbox.admin("GET", "faults")["config"]["rate_5xx"] == 0.0
    assert sandbox.requests() == []


def test_clock_advance_moves_record_timestamps(sandbox, http):
    url = f"{sandbox.base_url}/crm/v3/objects/companies"
    sandbox.admin("POST", "clock/set", {"now": "2030-05-01T09:00:00Z"})
    created = http.post(url, json={"properties": {"name": "A"}}).json()
    assert created["createdAt"].startswith("2030-05-01T09:00")
    sandbox.admin("POST", "clock/advance", {"days": 2, "hours": 3})
    updated = http.patch(f"{url}/{created['id']}", json={"properties": {"name": "B"}}).json()
    assert updated["properties"]["hs_lastmodifieddate"].startswith("2030-05-03T12:00")
    bad = requests.post(
        f"{sandbox.base_url}/_sandbox/clock/advance",
        json={"days": -1},
        headers={"Authorization": f"Bearer {sandbox.token}"},
        verify=sandbox.ca_bundle,
    )
    assert bad.status_code == 400


def test_state_dump_and_load_round_trip(sandbox, http):
    url = f"{sandbox.base_url}/crm/v3/objects/companies"
    created = http.post(url, json={"properties": {"name": "Keep"}}).json()
    state = sandbox.admin("GET", "state")
    sandbox.admin("POST", "reset")
    assert http.get(f"{url}/{created['id']}").status_code == 404
    sandbox.admin("PUT", "state", state)
    assert http.get(f"{url}/{created['id']}").json()["properties"]["name"] == "Keep"


def test_state_file_persists_across_restarts(tmp_path):
    state_file = tmp_path / "state.json"
    with running_sandbox(state_file=state_file, save_interval=0.05) as first:
        session = requests.Session()
        session.trust_env = False
        headers = {"Authorization": f"Bearer {first.token}"}
        response = session.post(
            f"{first.base_url}/crm/v3/properties/companies",
            json={
                "name": "handoff_key",
                "label": "Key",
                "type": "string",
                "fieldType": "text",
                "groupName": "companyinformation",
                "hasUniqueValue": True,
            },
            headers=headers,
            verify=first.ca_bundle,
        )
        assert response.status_code == 201
        company = session.post(
            f"{first.base_url}/crm/v3/objects/companies",
            json={"properties": {"name": "Persisted", "handoff_key": "P-1"}},
            headers=headers,
            verify=first.ca_bundle,
        ).json()
        deadline = time.monotonic() + 5
        while not state_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state_file.exists()  # written on change, before shutdown
        ca_before = Path(first.ca_bundle).read_text()
    with running_sandbox(state_file=state_file) as second:
        assert Path(second.ca_bundle).read_text() == ca_before  # same CA across restarts
        headers = {"Authorization": f"Bearer {second.token}"}
        read = session.get(
            f"{second.base_url}/crm/v3/objects/companies/P-1",
            params={"idProperty": "handoff_key", "properties": "name"},
            headers=headers,
            verify=second.ca_bundle,
        )
        assert read.status_code == 200
        assert read.json()["id"] == company["id"]
        again = session.post(
            f"{second.base_url}/crm/v3/objects/companies",
            json={"properties": {"handoff_key": "P-1"}},
            headers=headers,
            verify=second.ca_bundle,
        )
        assert again.status_code == 409  # the unique index was rebuilt from the file


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_serves_and_saves_on_shutdown(tmp_path):
    port = _free_port()
    state_file = tmp_path / "state.json"
    env = {k: v for k, v in os.environ.items()}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crm_sandbox.cli",
            "--port",
            str(port),
            "--state-file",
            str(state_file),
            "--token",
            "cli-token",
            "--hubspot-rate-limit",
            "7",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        ca = tmp_path / "ca.pem"
        base = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if ca.exists() and requests.get(f"{base}/_sandbox/health", verify=ca).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the CLI sandbox did not come up"
            time.sleep(0.1)
        headers = {"Authorization": "Bearer cli-token"}
        session = requests.Session()
        session.trust_env = False
        response = session.post(
            f"{base}/crm/v3/objects/companies",
            json={"properties": {"name": "From CLI"}},
            headers=headers,
            verify=ca,
        )
        assert response.status_code == 201
        assert response.headers["X-HubSpot-RateLimit-Max"] == "7"
        session.close()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert "CRM sandbox on https://127.0.0.1" in output
    assert str(ca) in output
    assert "From CLI" in state_file.read_text()
