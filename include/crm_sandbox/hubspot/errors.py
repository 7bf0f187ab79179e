"""HubSpot's error shapes: `{"status": "error", "message", "correlationId", "category", ...}`."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.responses import JSONResponse


def correlation_id() -> str:
    return str(uuid.uuid4())


class HubSpotError(Exception):
    """Raised by handlers; rendered by the API module's exception handler."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        context: dict[str, list[str]] | None = None,
        sub_category: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.errors = errors
        self.context = context
        self.sub_category = sub_category
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id(),
            "category": self.category,
        }
        if self.sub_category:
            body["subCategory"] = self.sub_category
        if self.errors:
            body["errors"] = self.errors
        if self.context:
            body["context"] = self.context
        body.update(self.extra)
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)

    def batch_error(self, trace_ids: list[str] | None = None) -> dict[str, Any]:
        """This error as one entry of a 207's `errors[]` (StandardError)."""
        context = dict(self.context or {})
        if trace_ids:
            context["objectWriteTraceId"] = trace_ids
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": context,
            "links": {},
            "errors": self.errors or [],
            **({"subCategory": self.sub_category} if self.sub_category else {}),
        }


def validation_error(message: str, **kwargs: Any) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message, **kwargs)


def not_found(message: str = "Resource not found") -> HubSpotError:
    return HubSpotError(404, "OBJECT_NOT_FOUND", message)


def property_errors(results: list[dict[str, Any]]) -> HubSpotError:
    """'Property values were not valid' with HubSpot's validationResults-style list."""
    message = "Property values were not valid: " + json.dumps(results, separators=(",", ":"))
    details = [
        {
            "message": r["message"],
            "code": r["error"],
            "context": {"propertyName": [r["name"]]},
        }
        for r in results
    ]
    return validation_error(message, errors=details)


def rate_limit_body(policy: str, message: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "requestId": uuid.uuid4().hex,
    }
