"""The sandbox ASGI app: routes each CRM path to its API module, logs, authenticates,
injects faults and applies rate limits in one middleware; admin endpoints live under
/_sandbox/."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from crm_sandbox.admin import admin_router
from crm_sandbox.runtime import Sandbox
from crm_sandbox.settings import SandboxSettings

log = logging.getLogger("crm_sandbox")

TRANSPORT_KEY = "crm_sandbox.transport"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SandboxApp(FastAPI):
    """FastAPI that remembers the connection's transport, so a fault can drop it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        owner = getattr(send, "__self__", None)  # uvicorn's RequestResponseCycle
        transport = getattr(owner, "transport", None)
        if transport is not None:
            scope[TRANSPORT_KEY] = transport
        await super().__call__(scope, receive, send)


def bearer_token_ok(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


async def _drop_connection(request: Request) -> None:
    transport = request.scope.get(TRANSPORT_KEY)
    if transport is None:  # not under uvicorn (e.g. an in-process test client)
        raise ConnectionAbortedError("fault injection: connection dropped")
    transport.abort()
    await asyncio.sleep(0)  # let uvicorn notice, so it sends nothing more


def create_app(settings: SandboxSettings | dict[str, Any] | None = None) -> FastAPI:
    if settings is None:
        settings = SandboxSettings()
    elif isinstance(settings, dict):
        settings = SandboxSettings.from_kwargs(**settings)
    sandbox = Sandbox(settings)
    ctx = sandbox.ctx

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sandbox.start_saver()
        if sandbox.reps is not None and sandbox.ctx.settings.get("sim_reps"):
            sandbox.reps.start_background()
        try:
            yield
        finally:
            if sandbox.reps is not None:
                sandbox.reps.stop_background()
            sandbox.stop_saver()

    app = SandboxApp(
        lifespan=lifespan,
        title="Handoff CRM sandbox",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = sandbox

    @app.middleware("http")
    async def crm_pipeline(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path.startswith("/_sandbox"):
            return await call_next(request)
        started = time.perf_counter()
        api = sandbox.api_for(path)
        if api is None:
            return JSONResponse(
                {"status": "error", "message": f"No API is emulated at {path}"}, status_code=404
            )
        request.state.records_touched = 0
        fault: str | None = None
        response: Response
        if not bearer_token_ok(request, ctx.token):
            response = api.auth_error(request)
        else:
            assert ctx.faults is not None
            decision = ctx.faults.decide(request.method, path)
            if decision.delay:
                fault = "slow"
                await asyncio.sleep(decision.delay)
            if decision.kind == "drop":
                _log(sandbox, api.name, request, 0, started, "drop")
                await _drop_connection(request)
                return Response(status_code=500)  # never reaches the client
            if decision.kind is not None and decision.status is not None:
                fault = decision.kind
                response = api.fault_error(request, decision.status)
            else:
                limited = api.check_limits(request)
                response = limited if limited is not None else await call_next(request)
        api.on_response(request, response)
        if request.method in MUTATING and response.status_code < 400:
            ctx.mark_dirty()
        _log(sandbox, api.name, request, response.status_code, started, fault)
        return response

    app.include_router(admin_router(sandbox))
    for api in sandbox.apis:
        app.include_router(api.router())

    return app


def _log(
    sandbox: Sandbox, api: str, request: Request, status: int, started: float, fault: str | None
) -> None:
    sandbox.request_log.append(
        api=api,
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        status=status,
        records=int(getattr(request.state, "records_touched", 0) or 0),
        timestamp=sandbox.ctx.clock.now().isoformat().replace("+00:00", "Z"),
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        fault=fault,
    )
