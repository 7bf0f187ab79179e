"""HubSpot's rate limits: a rolling 10-second window, a daily allowance (per simulated UTC
day) and the search API's own per-second limit; X-HubSpot-RateLimit-* headers."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from crm_sandbox.api import SandboxContext
from crm_sandbox.hubspot.errors import rate_limit_body


class RateLimiter:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self._window: deque[float] = deque()
            self._search: deque[float] = deque()
            self._day = ""
            self._daily = 0

    def _setting(self, name: str) -> int:
        return int(self.ctx.settings[name])

    @staticmethod
    def _prune(window: deque[float], now: float, length: float) -> None:
        while window and window[0] <= now - length:
            window.popleft()

    def _roll_day(self) -> None:
        today = self.ctx.clock.now().date().isoformat()
        if today != self._day:
            self._day, self._daily = today, 0

    def check(self, request: Request) -> Response | None:
        """Count the request, or answer 429 if a limit is reached (then it is not counted)."""
        now = time.monotonic()
        limit = self._setting("hubspot_rate_limit")
        window_s = self._setting("hubspot_window_ms") / 1000
        daily = self._setting("hubspot_daily_limit")
        is_search = request.method == "POST" and request.url.path.endswith("/search")
        with self._lock:
            self._roll_day()
            self._prune(self._window, now, window_s)
            if self._daily >= daily:
                return self._too_many("DAILY", "You have reached your daily limit.")
            if len(self._window) >= limit:
                return self._too_many(
                    "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
                )
            if is_search:
                search_s = self._setting("hubspot_search_window_ms") / 1000
                self._prune(self._search, now, search_s)
                if len(self._search) >= self._setting("hubspot_search_rate_limit"):
                    return self._too_many("SECONDLY", "You have reached your secondly limit.")
                self._search.append(now)
            self._window.append(now)
            self._daily += 1
        return None

    @staticmethod
    def _too_many(policy: str, message: str) -> Response:
        return JSONResponse(rate_limit_body(policy, message), status_code=429)

    def headers(self) -> dict[str, str]:
        now = time.monotonic()
        limit = self._setting("hubspot_rate_limit")
        window_ms = self._setting("hubspot_window_ms")
        daily = self._setting("hubspot_daily_limit")
        with self._lock:
            self._roll_day()
            self._prune(self._window, now, window_ms / 1000)
            used = len(self._window)
            daily_used = self._daily
        return {
            "X-HubSpot-RateLimit-Max": str(limit),
            "X-HubSpot-RateLimit-Remaining": str(max(0, limit - used)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(window_ms),
            "X-HubSpot-RateLimit-Daily": str(daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, daily - daily_used)),
        }

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"window": len(self._window), "day": self._day, "daily_used": self._daily}
