"""Request helpers shared by the HubSpot route modules."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from crm_sandbox.hubspot.errors import HubSpotError, correlation_id, validation_error

log = logging.getLogger("crm_sandbox.hubspot")

Handler = Callable[..., Awaitable[Response]]


def hubspot_errors(handler: Handler) -> Handler:
    """Render HubSpotError (and anything unexpected) in HubSpot's error shape."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(*args, **kwargs)
        except HubSpotError as exc:
            return exc.response()
        except Exception:
            log.exception("internal error in the HubSpot emulation")
            return JSONResponse(
                {
                    "status": "error",
                    "message": "internal error",
                    "correlationId": correlation_id(),
                    "category": "INTERNAL_ERROR",
                },
                status_code=500,
            )

    return wrapper


async def read_json(request: Request, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise validation_error("Invalid input JSON : No content to map due to end-of-input")
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise validation_error(f"Invalid input JSON on line 1: {exc}") from None


def query_list(request: Request, name: str) -> list[str]:
    """Repeated (?properties=a&properties=b) and comma-separated (?properties=a,b) lists."""
    out: list[str] = []
    for value in request.query_params.getlist(name):
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    return value.strip().lower() == "true"


def query_int(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise validation_error(f"{name} must be an integer, got {value!r}") from None
    if number < 0 or (maximum is not None and number > maximum):
        raise validation_error(f"{name} must be between 0 and {maximum}")
    return number


def inputs_of(body: Any, maximum: int = 100) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise validation_error("Invalid input JSON: expected an object with an 'inputs' list")
    inputs = body["inputs"]
    if len(inputs) > maximum:
        raise HubSpotError(
            400,
            "VALIDATION_ERROR",
            f"Too many inputs: {len(inputs)}. The maximum allowed in a batch is {maximum}.",
            context={"limit": [str(maximum)], "size": [str(len(inputs))]},
        )
    return inputs


def paging(after: int, count: int, total: int, base: str) -> dict[str, Any] | None:
    if after + count >= total:
        return None
    nxt = after + count
    return {"next": {"after": str(nxt), "link": f"{base}?after={nxt}"}}
