"""Salesforce's error shape: a JSON array of `{"message", "errorCode", "fields"}`."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class SfError(Exception):
    """A request-level error, answered as `[{"message", "errorCode", "fields"}]`."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []

    def body(self) -> list[dict[str, Any]]:
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


class RecordError(Exception):
    """A per-record error (composite results, Bulk API failed rows)."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []

    def as_result_error(self) -> dict[str, Any]:
        """The shape used in sObject Collections results."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_bulk_error(self) -> str:
        """The `sf__Error` text of a Bulk API failed row: `CODE:message:fields --`."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"

    def to_sf_error(self, status: int = 400) -> SfError:
        return SfError(status, self.code, self.message, self.fields)


def not_found(message: str = "The requested resource does not exist") -> SfError:
    return SfError(404, "NOT_FOUND", message)


def error_response(status: int, code: str, message: str, *, bare: bool = False) -> JSONResponse:
    """An error answer; `bare` leaves out `fields`, as Salesforce does for auth and limits."""
    if bare:
        return JSONResponse([{"message": message, "errorCode": code}], status_code=status)
    return SfError(status, code, message).response()
