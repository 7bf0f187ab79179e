"""The admin request log: one entry per CRM API call, with how many records it touched."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class RequestEntry:
    index: int
    api: str
    method: str
    path: str
    query: str
    status: int  # 0 when the connection was dropped
    records: int
    timestamp: str  # simulated clock, ISO 8601
    duration_ms: float
    fault: str | None


class RequestLog:
    """Bounded, thread-safe. Indexes keep growing across clears so cursors stay valid."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._entries: deque[RequestEntry] = deque(maxlen=capacity)
        self._next = 0
        self._lock = threading.Lock()

    def append(self, **values: Any) -> RequestEntry:
        with self._lock:
            entry = RequestEntry(index=self._next, **values)
            self._next += 1
            self._entries.append(entry)
            return entry

    @property
    def next_index(self) -> int:
        with self._lock:
            return self._next

    def clear(self) -> int:
        with self._lock:
            n = len(self._entries)
            self._entries.clear()
            return n

    def query(
        self,
        since: int = 0,
        method: str | None = None,
        path: str | None = None,
        api: str | None = None,
        status: int | None = None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._entries)
        out = []
        for entry in entries:
            if entry.index < since:
                continue
            if method and entry.method != method.upper():
                continue
            if path and not entry.path.startswith(path):
                continue
            if api and entry.api != api:
                continue
            if status is not None and entry.status != status:
                continue
            out.append(asdict(entry))
        return out
