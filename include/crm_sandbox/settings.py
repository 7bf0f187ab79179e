"""Start-up settings of the sandbox (CLI flags, `running_sandbox(**settings)`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_TOKEN = "sandbox-token"

# Keys copied into SandboxContext.settings (the live, admin-adjustable knobs). API modules
# read them on every request, so PATCH /_sandbox/settings takes effect immediately.
LIVE_DEFAULTS: dict[str, Any] = {
    "hubspot_rate_limit": 190,  # requests per rolling window (private app, Pro/Enterprise)
    "hubspot_window_ms": 10_000,  # rolling window length
    "hubspot_daily_limit": 1_000_000,  # requests per simulated day (with API add-on)
    "hubspot_search_rate_limit": 5,  # search requests per search window
    "hubspot_search_window_ms": 1_000,
    "hubspot_max_search_results": 10_000,  # search paging cap
    "hubspot_portal_id": 24_681_357,
    "hubspot_owners": None,  # None: the seeded default owners
    "sim_reps": False,
    "propensity_file": None,
}


@dataclass
class SandboxSettings:
    token: str = DEFAULT_TOKEN
    seed: int = 0
    state_file: Path | None = None  # persist state here (JSON) on change and at shutdown
    state_dir: Path | None = None  # CA and server certs; default: state_file's folder or temp
    faults: dict[str, Any] = field(default_factory=dict)  # initial FaultConfig
    live: dict[str, Any] = field(default_factory=dict)  # overrides of LIVE_DEFAULTS + extras
    save_interval: float = 0.5  # seconds between state-file writes while dirty

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> SandboxSettings:
        """Known fields go to the dataclass; every other key becomes a live setting.

        Unknown keys (e.g. salesforce_daily_limit) are passed through to ctx.settings so
        each API module can define its own knobs.
        """
        names = {f.name for f in fields(cls)}
        own = {k: v for k, v in kwargs.items() if k in names}
        live = dict(own.pop("live", {}) or {})
        live.update({k: v for k, v in kwargs.items() if k not in names})
        for key in ("state_file", "state_dir"):
            if own.get(key) is not None:
                own[key] = Path(own[key])
        return cls(live=live, **own)

    def live_settings(self) -> dict[str, Any]:
        merged = dict(LIVE_DEFAULTS)
        merged.update(self.live)
        return merged
