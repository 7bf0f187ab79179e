"""The CRM sandbox for integration tests: one HTTPS server per test module (seed 7), reset
before each test (state, clock, settings, faults, request log). A module that sets
`SANDBOX_USERS = "roster"` gets the reps of include/config/roster.yaml as its HubSpot owners
and Salesforce users (instead of the sandbox's defaults), so routed owners resolve."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_sandbox.seeding import people_settings
from crm_sandbox.server import SandboxServer, running_sandbox
from handoff.routing.config import load_roster


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    settings = {}
    if getattr(request.module, "SANDBOX_USERS", None) == "roster":
        settings = people_settings([(r.name, r.email) for r in load_roster().reps])
    with running_sandbox(port=0, seed=7, **settings) as handle:
        yield handle


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.admin("POST", "reset")
    return server
