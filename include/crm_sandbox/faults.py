"""Faults on demand: 429s, 5xx, 423 locks, slow responses, dropped connections, bad records.

Every decision is a pure function of (seed, kind, counter) or (seed, kind, record key), so a
run with the same seed, the same fault config and the same sequence of requests sees the same
faults. The counter restarts whenever the config is replaced.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

RETRYABLE_5XX = (500, 502, 503, 504)


def _uniform(seed: int, kind: str, key: object) -> float:
    digest = hashlib.blake2b(f"{seed}:{kind}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass
class FaultConfig:
    """What to inject. Rates are probabilities in [0, 1] per matching request (or record)."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    statuses_5xx: list[int] = field(default_factory=lambda: list(RETRYABLE_5XX))
    rate_423: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 2.0
    rate_drop: float = 0.0
    record_fail_rate: float = 0.0
    path_prefix: str | None = None
    methods: list[str] | None = None
    max_faults: int | None = None
    seed: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FaultConfig:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
        config = cls(**data)
        config.validate()
        return config

    def validate(self) -> None:
        for name in ("rate_429", "rate_5xx", "rate_423", "rate_slow", "rate_drop"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
        if not isinstance(self.record_fail_rate, int | float) or not (
            0.0 <= float(self.record_fail_rate) <= 1.0
        ):
            raise ValueError("record_fail_rate must be a number between 0 and 1")
        if not self.statuses_5xx or any(
            not isinstance(s, int) or not 500 <= s <= 599 for s in self.statuses_5xx
        ):
            raise ValueError("statuses_5xx must be a non-empty list of 5xx status codes")
        if not isinstance(self.slow_seconds, int | float) or not 0 <= self.slow_seconds <= 120:
            raise ValueError("slow_seconds must be between 0 and 120")
        if self.max_faults is not None and (
            not isinstance(self.max_faults, int) or self.max_faults < 0
        ):
            raise ValueError("max_faults must be a non-negative integer or null")
        if self.methods is not None:
            self.methods = [m.upper() for m in self.methods]
        if self.path_prefix is not None and not self.path_prefix.startswith("/"):
            raise ValueError("path_prefix must start with '/'")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one request: an optional delay, then an optional failure."""

    delay: float = 0.0
    kind: str | None = None  # "drop" | "429" | "423" | "5xx"
    status: int | None = None

    @property
    def injected(self) -> bool:
        return self.kind is not None or self.delay > 0


class FaultInjector:
    """Thread-safe, seeded fault decisions shared by the core and every API module."""

    def __init__(self, seed: int = 0, config: FaultConfig | dict[str, Any] | None = None) -> None:
        self._base_seed = seed
        self._lock = threading.Lock()
        self._initial = config if isinstance(config, FaultConfig) else FaultConfig.from_dict(config)
        self._config = self._initial
        self._counter = 0
        self._injected: dict[str, int] = {}

    @property
    def config(self) -> FaultConfig:
        return self._config

    @property
    def seed(self) -> int:
        return self._config.seed if self._config.seed is not None else self._base_seed

    def configure(self, data: dict[str, Any] | FaultConfig | None) -> FaultConfig:
        """Replace the whole config (absent fields take defaults) and restart the sequence."""
        config = data if isinstance(data, FaultConfig) else FaultConfig.from_dict(data)
        with self._lock:
            self._config = config
            self._counter = 0
            self._injected = {}
        return config

    def reset(self) -> None:
        """Back to the config the sandbox started with."""
        self.configure(self._initial)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": self._config.as_dict(),
                "seed": self.seed,
                "matched_requests": self._counter,
                "injected": dict(self._injected),
            }

    def _matches(self, method: str, path: str) -> bool:
        config = self._config
        if config.path_prefix and not path.startswith(config.path_prefix):
            return False
        return not (config.methods and method.upper() not in config.methods)

    def _budget_left(self) -> bool:
        limit = self._config.max_faults
        used = sum(v for k, v in self._injected.items() if k != "record")
        return limit is None or used < limit

    def decide(self, method: str, path: str) -> FaultDecision:
        """The fault (if any) for the next request to `path`."""
        with self._lock:
            config = self._config
            if not self._matches(method, path):
                return FaultDecision()
            n = self._counter
            self._counter += 1
            seed = self.seed
            delay = 0.0
            if (
                config.rate_slow
                and _uniform(seed, "slow", n) < config.rate_slow
                and self._budget_left()
            ):
                delay = float(config.slow_seconds)
                self._injected["slow"] = self._injected.get("slow", 0) + 1
            for kind, rate in (
                ("drop", config.rate_drop),
                ("429", config.rate_429),
                ("423", config.rate_423),
                ("5xx", config.rate_5xx),
            ):
                if rate and _uniform(seed, kind, n) < rate and self._budget_left():
                    self._injected[kind] = self._injected.get(kind, 0) + 1
                    status = {"drop": None, "429": 429, "423": 423}.get(kind)
                    if kind == "5xx":
                        pick = int(_uniform(seed, "5xx-status", n) * len(config.statuses_5xx))
                        status = config.statuses_5xx[pick]
                    return FaultDecision(delay=delay, kind=kind, status=status)
            return FaultDecision(delay=delay)

    def record_fails(self, key: object, path: str | None = None) -> bool:
        """Whether the record identified by `key` should fail validation.

        Deterministic per (seed, key) while the config is unchanged: a record that fails keeps
        failing on retry, like bad data would, until the faults are cleared. API modules call
        this once per input record; `path` (the request path) honours `path_prefix`.
        """
        config = self._config
        if not config.record_fail_rate:
            return False
        if path is not None and config.path_prefix and not path.startswith(config.path_prefix):
            return False
        fails = _uniform(self.seed, "record", key) < config.record_fail_rate
        if fails:
            with self._lock:
                self._injected["record"] = self._injected.get("record", 0) + 1
        return fails
