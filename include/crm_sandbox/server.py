"""Run the sandbox over HTTPS: in a background thread for tests (`running_sandbox`), or in
the foreground for the CLI (`serve`)."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import uvicorn
from fastapi import FastAPI

from crm_sandbox.app import create_app
from crm_sandbox.runtime import Sandbox
from crm_sandbox.settings import SandboxSettings
from crm_sandbox.tls import TlsFiles, ensure_certificates


@dataclass
class SandboxServer:
    """A running sandbox as a client sees it, plus a small admin client."""

    base_url: str
    token: str
    ca_bundle: str
    port: int
    app: FastAPI
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def sandbox(self) -> Sandbox:
        """The in-process sandbox (for tests that need to look behind the API)."""
        return self.app.state.sandbox

    def admin(
        self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        """Call an admin endpoint (`path` relative to /_sandbox/) and return parsed JSON."""
        params = params or {}
        url = f"{self.base_url}/_sandbox/{path.lstrip('/')}"
        response = self._session.request(
            method.upper(),
            url,
            json=json,
            params={k: v for k, v in params.items() if v is not None} or None,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=self.ca_bundle,
            timeout=120,
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"admin {method} {path} failed: {response.status_code} {response.text}"
            )
        return response.json()

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """The request log, filtered by since / method / path / api / status."""
        return self.admin("GET", "requests", params=filters)["requests"]

    def reset(self) -> None:
        self.admin("POST", "reset")


def _state_dir(settings: SandboxSettings) -> tuple[Path, bool]:
    if settings.state_dir is not None:
        return settings.state_dir, False
    if settings.state_file is not None:
        return settings.state_file.resolve().parent, False
    return Path(tempfile.mkdtemp(prefix="crm-sandbox-")), True


def prepare(settings: SandboxSettings) -> tuple[TlsFiles, FastAPI]:
    """Certificates first (the app serves the CA at /_sandbox/ca.pem), then the app."""
    state_dir, _ = _state_dir(settings)
    tls = ensure_certificates(state_dir)
    settings.live.setdefault("ca_bundle", str(tls.ca_bundle))
    return tls, create_app(settings)


def uvicorn_config(app: FastAPI, tls: TlsFiles, host: str, port: int, **extra: Any) -> Any:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(tls.cert_chain),
        ssl_keyfile=str(tls.private_key),
        lifespan="on",
        access_log=False,
        log_level=extra.pop("log_level", "warning"),
        timeout_graceful_shutdown=extra.pop("timeout_graceful_shutdown", 1),
        **extra,
    )


@contextmanager
def running_sandbox(
    port: int = 0, host: str = "127.0.0.1", **settings: Any
) -> Iterator[SandboxServer]:
    """Start the sandbox over HTTPS in a background thread; stop it on exit.

    Keyword arguments are SandboxSettings fields (token, seed, state_file, faults, ...) or
    live settings (hubspot_rate_limit, hubspot_window_ms, any salesforce_* key, ...).
    """
    config_settings = SandboxSettings.from_kwargs(**settings)
    state_dir, temporary = _state_dir(config_settings)
    config_settings.state_dir = state_dir
    tls, app = prepare(config_settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    actual_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, tls, host, actual_port))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="crm-sandbox", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the CRM sandbox did not start")
        time.sleep(0.01)
    handle = SandboxServer(
        base_url=f"https://{host}:{actual_port}",
        token=config_settings.token,
        ca_bundle=str(tls.ca_bundle),
        port=actual_port,
        app=app,
    )
    try:
        yield handle
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        handle._session.close()
        if temporary:
            shutil.rmtree(state_dir, ignore_errors=True)
