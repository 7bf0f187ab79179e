"""The contract between the sandbox server core and each emulated CRM API.

The core (app, middleware, admin endpoints, TLS, CLI) knows nothing about HubSpot or
Salesforce; each API is a module implementing `CrmApi` and owning the URL prefixes it serves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response

from crm_sandbox.faults import FaultInjector


class SimClock:
    """Wall clock plus an offset that admin endpoints (and simulated reps) can advance."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._offset += delta
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def set_offset(self, offset: timedelta) -> None:
        with self._lock:
            self._offset = offset

    def set_now(self, moment: datetime) -> datetime:
        """Jump so that now() is `moment` (only forwards or backwards by the offset)."""
        with self._lock:
            self._offset = moment - datetime.now(UTC)
        return self.now()


@dataclass
class SandboxContext:
    """What every API module receives from the core."""

    token: str
    seed: int = 0
    clock: SimClock = field(default_factory=SimClock)
    lock: threading.RLock = field(default_factory=threading.RLock)
    settings: dict[str, Any] = field(default_factory=dict)
    # Shared fault injector; also reachable as settings["faults"]. API modules call
    # `ctx.faults.record_fails(key, request.url.path)` once per input record.
    faults: FaultInjector | None = None
    _dirty: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        if self.faults is None:
            existing = self.settings.get("faults")
            self.faults = (
                existing if isinstance(existing, FaultInjector) else FaultInjector(self.seed)
            )
        self.settings["faults"] = self.faults

    def mark_dirty(self) -> None:
        """Tell the core that state changed outside a write request (it persists soon)."""
        self._dirty.set()

    def take_dirty(self) -> bool:
        """True once after state changed (used by the state-file writer)."""
        if self._dirty.is_set():
            self._dirty.clear()
            return True
        return False

    @staticmethod
    def note_records(request: Request, n: int) -> None:
        """Record how many records a request touched, for the admin request log."""
        request.state.records_touched = getattr(request.state, "records_touched", 0) + n


class CrmApi(Protocol):
    name: str  # "hubspot" | "salesforce"
    prefixes: tuple[str, ...]  # URL path prefixes this API owns, e.g. ("/crm/",)

    def router(self) -> APIRouter: ...

    def auth_error(self, request: Request) -> Response:
        """401 in this API's own error shape."""
        ...

    def fault_error(self, request: Request, status: int) -> Response:
        """An injected fault (429, 423, 5xx) in this API's own error shape."""
        ...

    def check_limits(self, request: Request) -> Response | None:
        """Rate / daily limits: a ready error response, or None to let the request through."""
        ...

    def on_response(self, request: Request, response: Response) -> None:
        """Add this API's per-response headers (rate-limit headers, Sforce-Limit-Info)."""
        ...

    def dump(self) -> dict[str, Any]: ...

    def load(self, data: dict[str, Any]) -> None: ...

    def reset(self) -> None: ...
