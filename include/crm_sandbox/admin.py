"""Admin endpoints under /_sandbox/ (reset, state, request log, faults, clock, settings, reps).

All of them need the sandbox token as `Authorization: Bearer <token>`, except
`GET /_sandbox/health` and `GET /_sandbox/ca.pem`, which are public.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import PlainTextResponse

if TYPE_CHECKING:
    from crm_sandbox.runtime import Sandbox


def _body_dict(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise HTTPException(400, "the request body must be a JSON object")
    return body


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return _body_dict(await request.json())
    except ValueError as exc:
        raise HTTPException(400, f"invalid JSON: {exc}") from exc


def _duration(body: dict[str, Any]) -> timedelta:
    units = {"seconds", "minutes", "hours", "days"}
    unknown = set(body) - units
    if unknown or not body:
        raise HTTPException(400, "give one or more of seconds, minutes, hours, days")
    try:
        delta = timedelta(**{k: float(v) for k, v in body.items()})
    except (TypeError, ValueError) as exc:
        raise HTTPException(400, f"invalid duration: {exc}") from exc
    if delta < timedelta(0):
        raise HTTPException(400, "the simulated clock only moves forwards")
    return delta


def admin_router(sandbox: Sandbox) -> APIRouter:
    from crm_sandbox.app import bearer_token_ok

    def require_token(request: Request) -> None:
        if not bearer_token_ok(request, sandbox.ctx.token):
            raise HTTPException(401, "admin endpoints need 'Authorization: Bearer <token>'")

    public = APIRouter(prefix="/_sandbox")
    router = APIRouter(prefix="/_sandbox", dependencies=[Depends(require_token)])

    @public.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "apis": [api.name for api in sandbox.apis],
            "now": sandbox.ctx.clock.now().isoformat(),
            "state_file": str(sandbox.settings.state_file or "") or None,
        }

    @public.get("/ca.pem", response_class=PlainTextResponse)
    def ca_pem() -> str:
        ca = sandbox.ctx.settings.get("ca_bundle")
        if not ca or not Path(ca).exists():
            raise HTTPException(404, "this sandbox does not serve TLS")
        return Path(ca).read_text()

    @router.post("/reset")
    def reset() -> dict[str, Any]:
        sandbox.reset()
        return {"status": "reset", "now": sandbox.ctx.clock.now().isoformat()}

    @router.get("/state")
    def state() -> dict[str, Any]:
        return sandbox.dump()

    @router.put("/state")
    async def load_state(request: Request) -> dict[str, Any]:
        body = await _json(request)
        try:
            sandbox.load(body)
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPException(400, f"cannot load state: {exc}") from exc
        sandbox.ctx.mark_dirty()
        return {"status": "loaded"}

    @router.post("/save")
    def save() -> dict[str, Any]:
        path = sandbox.save()
        return {"saved": str(path) if path else None}

    @router.get("/requests")
    def requests_log(
        since: int = 0,
        method: str | None = None,
        path: str | None = None,
        api: str | None = None,
        status: int | None = None,
    ) -> dict[str, Any]:
        entries = sandbox.request_log.query(
            since=since, method=method, path=path, api=api, status=status
        )
        return {
            "count": len(entries),
            "records": sum(e["records"] for e in entries),
            "next_index": sandbox.request_log.next_index,
            "requests": entries,
        }

    @router.delete("/requests")
    def clear_requests() -> dict[str, Any]:
        return {"cleared": sandbox.request_log.clear()}

    @router.get("/faults")
    def get_faults() -> dict[str, Any]:
        assert sandbox.ctx.faults is not None
        return sandbox.ctx.faults.snapshot()

    @router.put("/faults")
    async def put_faults(request: Request) -> dict[str, Any]:
        assert sandbox.ctx.faults is not None
        try:
            sandbox.ctx.faults.configure(await _json(request))
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from exc
        return sandbox.ctx.faults.snapshot()

    @router.get("/clock")
    def clock() -> dict[str, Any]:
        return {
            "now": sandbox.ctx.clock.now().isoformat(),
            "offset_seconds": sandbox.ctx.clock.offset.total_seconds(),
        }

    @router.post("/clock/advance")
    async def advance(request: Request) -> dict[str, Any]:
        delta = _duration(await _json(request))
        now = sandbox.ctx.clock.advance(delta)
        sandbox.ctx.mark_dirty()
        return {"now": now.isoformat(), "offset_seconds": sandbox.ctx.clock.offset.total_seconds()}

    @router.post("/clock/set")
    async def set_clock(request: Request) -> dict[str, Any]:
        body = await _json(request)
        try:
            moment = datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00"))
        except (KeyError, ValueError) as exc:
            raise HTTPException(400, "give {'now': ISO 8601 datetime with offset}") from exc
        if moment.tzinfo is None:
            raise HTTPException(400, "the datetime needs a UTC offset")
        now = sandbox.ctx.clock.set_now(moment)
        sandbox.ctx.mark_dirty()
        return {"now": now.isoformat(), "offset_seconds": sandbox.ctx.clock.offset.total_seconds()}

    @router.get("/settings")
    def get_settings() -> dict[str, Any]:
        return sandbox.public_settings()

    @router.patch("/settings")
    async def patch_settings(request: Request) -> dict[str, Any]:
        try:
            return sandbox.update_settings(await _json(request))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

    @router.post("/reps/run")
    async def reps_run(request: Request) -> dict[str, Any]:
        if sandbox.reps is None:
            raise HTTPException(404, "simulated reps are not available")
        body = await _json(request)
        try:
            days = float(body.get("days", 1))
            step_hours = float(body.get("step_hours", 1))
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, "days and step_hours must be numbers") from exc
        if not 0 < days <= 365 or not 0 < step_hours <= 24 * 7:
            raise HTTPException(400, "days must be in (0, 365], step_hours in (0, 168]")
        import anyio.to_thread

        summary = await anyio.to_thread.run_sync(sandbox.reps.run, days, step_hours)
        sandbox.ctx.mark_dirty()
        return summary

    @router.post("/salesforce/merge")
    async def salesforce_merge(request: Request) -> dict[str, Any]:
        """Merge Salesforce records as a user would in the UI: {"object": "Account",
        "master": id, "losers": [id, ...]} (at most two losers)."""
        body = await _json(request)
        api = sandbox.api_named("salesforce")
        if api is None or not hasattr(api, "merge_records"):
            raise HTTPException(404, "this sandbox does not emulate Salesforce")
        losers = body.get("losers")
        if not body.get("master") or not isinstance(losers, list):
            raise HTTPException(400, "give object, master and losers (a list of ids)")
        try:
            master = api.merge_records(
                str(body.get("object") or "Account"), str(body["master"]), [str(i) for i in losers]
            )
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"master": master, "merged": [str(i) for i in losers]}

    @router.get("/reps")
    def reps_state() -> dict[str, Any]:
        if sandbox.reps is None:
            raise HTTPException(404, "simulated reps are not available")
        return sandbox.reps.summary()

    combined = APIRouter()
    combined.include_router(public)
    combined.include_router(router)
    return combined
