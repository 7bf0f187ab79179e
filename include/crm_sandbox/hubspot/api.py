"""HubSpotApi: the CrmApi implementation for HubSpot CRM v3 (and associations v4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from crm_sandbox.api import SandboxContext
from crm_sandbox.hubspot import associations, catalog, objects, properties, search
from crm_sandbox.hubspot.errors import correlation_id
from crm_sandbox.hubspot.limits import RateLimiter
from crm_sandbox.hubspot.store import HubSpotStore

FAULT_MESSAGES = {
    423: ("LOCKED", "The resource is locked. Please wait and try again."),
    429: ("RATE_LIMITS", "You have reached your ten_secondly_rolling limit."),
    500: ("INTERNAL_ERROR", "internal error"),
    502: ("BAD_GATEWAY", "Bad gateway"),
    503: ("SERVICE_UNAVAILABLE", "Service temporarily unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway timeout"),
}


class HubSpotApi:
    name = "hubspot"
    prefixes = ("/crm/",)

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.store = HubSpotStore(ctx)
        self.limits = RateLimiter(ctx)

    def router(self) -> APIRouter:
        router = APIRouter()
        search.register(router, self)
        objects.register(router, self)
        properties.register(router, self)
        associations.register(router, self)
        catalog.register(router, self)

        @router.api_route(
            "/crm/{rest:path}",
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            include_in_schema=False,
        )
        async def not_emulated(request: Request, rest: str) -> Response:
            return JSONResponse(
                {
                    "status": "error",
                    "message": f"Unable to route {request.method} {request.url.path}: "
                    "not emulated by the sandbox",
                    "correlationId": correlation_id(),
                    "category": "OBJECT_NOT_FOUND",
                },
                status_code=404,
            )

        return router

    def auth_error(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "error",
                "message": "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "correlationId": correlation_id(),
                "category": "INVALID_AUTHENTICATION",
            },
            status_code=401,
        )

    def fault_error(self, request: Request, status: int) -> Response:
        if status == 429:
            from crm_sandbox.hubspot.errors import rate_limit_body

            body = rate_limit_body(
                "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
            )
            return JSONResponse(body, status_code=429)
        category, message = FAULT_MESSAGES.get(status, ("INTERNAL_ERROR", "internal error"))
        return JSONResponse(
            {
                "status": "error",
                "message": message,
                "correlationId": correlation_id(),
                "category": category,
            },
            status_code=status,
        )

    def check_limits(self, request: Request) -> Response | None:
        return self.limits.check(request)

    def on_response(self, request: Request, response: Response) -> None:
        for key, value in self.limits.headers().items():
            response.headers[key] = value

    def dump(self) -> dict[str, Any]:
        with self.ctx.lock:
            return self.store.dump()

    def load(self, data: dict[str, Any]) -> None:
        with self.ctx.lock:
            self.store.load(data)

    def reset(self) -> None:
        with self.ctx.lock:
            self.store.reset()
            self.limits.reset()
