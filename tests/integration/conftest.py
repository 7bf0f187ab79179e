"""The CRM sandbox for integration tests: one HTTPS server per test module (seed 7, the
sandbox's default users), reset before each test. Modules that need other users or a
different seed define `server` themselves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_sandbox.server import SandboxServer, running_sandbox


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with running_sandbox(port=0, seed=7) as handle:
        yield handle


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.admin("POST", "reset")
    return server
