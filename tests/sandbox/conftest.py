"""Fixtures for the CRM sandbox contract tests.

`sandbox_server` starts one HTTPS sandbox per test session (random free port, a fresh local
CA); `sandbox` resets its state, clock, settings, faults and request log before each test and
returns the same handle: `.base_url`, `.token`, `.ca_bundle`, `.admin(method, path, json)`,
`.requests(**filters)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from hubspot import HubSpot

from crm_sandbox.server import SandboxServer, running_sandbox


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with running_sandbox(port=0, seed=7) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    sandbox_server.admin("POST", "reset")
    return sandbox_server


@pytest.fixture
def hubspot(sandbox: SandboxServer) -> HubSpot:
    """The official client, pointed at the sandbox and trusting its CA."""
    return HubSpot(access_token=sandbox.token, host=sandbox.base_url, ssl_ca_cert=sandbox.ca_bundle)


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[requests.Session]:
    """A raw HTTP session with the sandbox token, for status codes, headers and bodies."""
    session = requests.Session()
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify unless the
    # session ignores the environment.
    session.trust_env = False
    session.verify = sandbox.ca_bundle
    session.headers["Authorization"] = f"Bearer {sandbox.token}"
    yield session
    session.close()
