"""The org's daily API request allowance, over a rolling 24 hours of the simulated clock."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

DEFAULT_DAILY_LIMIT = 100_000  # an Enterprise Edition org
WINDOW_MINUTES = 24 * 60


class ApiUsage:
    """Requests counted per minute bucket; the allowance is the sum over the last 24 hours."""

    def __init__(self) -> None:
        self._buckets: deque[list[int]] = deque()  # [minute, count], oldest first

    @staticmethod
    def _minute(now: datetime) -> int:
        return int(now.timestamp() // 60)

    def _prune(self, minute: int) -> None:
        while self._buckets and self._buckets[0][0] <= minute - WINDOW_MINUTES:
            self._buckets.popleft()

    def used(self, now: datetime) -> int:
        self._prune(self._minute(now))
        return sum(count for _, count in self._buckets)

    def add(self, now: datetime, n: int = 1) -> None:
        minute = self._minute(now)
        self._prune(minute)
        if self._buckets and self._buckets[-1][0] >= minute:
            self._buckets[-1][1] += n
        else:
            self._buckets.append([minute, n])

    def dump(self) -> list[list[int]]:
        return [list(b) for b in self._buckets]

    def load(self, data: Any) -> None:
        self._buckets = deque([int(m), int(c)] for m, c in (data or []))


def daily_limit(settings: dict[str, Any]) -> int:
    value = settings.get("salesforce_daily_limit")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value)
    return DEFAULT_DAILY_LIMIT
