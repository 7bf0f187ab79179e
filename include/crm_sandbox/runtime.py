"""The running sandbox: context, API modules, request log and state file, behind the app."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import logging
import os
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from crm_sandbox.api import CrmApi, SandboxContext
from crm_sandbox.faults import FaultInjector
from crm_sandbox.requestlog import RequestLog
from crm_sandbox.settings import SandboxSettings

log = logging.getLogger("crm_sandbox")

STATE_VERSION = 1


def _load_salesforce(ctx: SandboxContext) -> CrmApi | None:
    """Mount the Salesforce API once its package exists; until then, run without it."""
    if importlib.util.find_spec("crm_sandbox.salesforce") is None:
        return None
    module = importlib.import_module("crm_sandbox.salesforce")
    api_class = getattr(module, "SalesforceApi", None)
    if api_class is None:  # package created but the class not written yet
        log.warning("crm_sandbox.salesforce has no SalesforceApi yet: Salesforce not mounted")
        return None
    return api_class(ctx)


def build_apis(ctx: SandboxContext) -> list[CrmApi]:
    from crm_sandbox.hubspot import HubSpotApi

    apis: list[CrmApi] = [HubSpotApi(ctx)]
    salesforce = _load_salesforce(ctx)
    if salesforce is not None:
        apis.append(salesforce)
    return apis


class Sandbox:
    """Everything the app serves, plus reset / dump / load / persistence."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self._initial_live = settings.live_settings()
        faults = FaultInjector(settings.seed, settings.faults)
        self.ctx = SandboxContext(
            token=settings.token,
            seed=settings.seed,
            settings={**copy.deepcopy(self._initial_live), "faults": faults},
            faults=faults,
        )
        self.apis: list[CrmApi] = build_apis(self.ctx)
        self.request_log = RequestLog()
        from crm_sandbox.reps import RepSimulator

        self.reps: RepSimulator | None = RepSimulator(self)
        self._saver: threading.Thread | None = None
        self._stop = threading.Event()
        self._save_lock = threading.Lock()
        if settings.state_file is not None and settings.state_file.exists():
            self.load(json.loads(settings.state_file.read_text()))
            log.info("loaded state from %s", settings.state_file)

    # --- routing -------------------------------------------------------------------------
    def api_for(self, path: str) -> CrmApi | None:
        best: tuple[int, CrmApi] | None = None
        for api in self.apis:
            for prefix in api.prefixes:
                if path.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), api)
        return best[1] if best else None

    def api_named(self, name: str) -> CrmApi | None:
        return next((api for api in self.apis if api.name == name), None)

    # --- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        with self.ctx.lock:
            for api in self.apis:
                api.reset()
            self.ctx.clock.reset()
            live = copy.deepcopy(self._initial_live)
            self.ctx.settings.clear()
            self.ctx.settings.update(live)
            self.ctx.settings["faults"] = self.ctx.faults
            assert self.ctx.faults is not None
            self.ctx.faults.reset()
            if self.reps is not None:
                self.reps.reset()
            self.request_log.clear()
        self.ctx.mark_dirty()

    def dump(self) -> dict[str, Any]:
        with self.ctx.lock:
            data: dict[str, Any] = {
                "version": STATE_VERSION,
                "clock_offset_seconds": self.ctx.clock.offset.total_seconds(),
                "apis": {api.name: api.dump() for api in self.apis},
            }
            if self.reps is not None:
                data["reps"] = self.reps.dump()
            return data

    def load(self, data: dict[str, Any]) -> None:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state version {data.get('version')!r}")
        with self.ctx.lock:
            self.ctx.clock.set_offset(timedelta(seconds=data.get("clock_offset_seconds", 0)))
            for api in self.apis:
                if api.name in data.get("apis", {}):
                    api.load(data["apis"][api.name])
            if self.reps is not None and "reps" in data:
                self.reps.load(data["reps"])

    def public_settings(self) -> dict[str, Any]:
        return {k: v for k, v in self.ctx.settings.items() if k != "faults"}

    def update_settings(self, changes: dict[str, Any]) -> dict[str, Any]:
        if "faults" in changes:
            raise ValueError("use PUT /_sandbox/faults to change faults")
        for key, value in changes.items():
            if key in self.ctx.settings and isinstance(self.ctx.settings[key], int | float):
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ValueError(f"{key} must be a number")
                if value <= 0:
                    raise ValueError(f"{key} must be positive")
        with self.ctx.lock:
            self.ctx.settings.update(changes)
        return self.public_settings()

    # --- persistence ---------------------------------------------------------------------
    def save(self) -> Path | None:
        path = self.settings.state_file
        if path is None:
            return None
        with self._save_lock:
            text = json.dumps(self.dump(), separators=(",", ":"), sort_keys=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.replace(tmp, path)
        return path

    def start_saver(self) -> None:
        if self.settings.state_file is None or self._saver is not None:
            return
        self._stop.clear()
        self._saver = threading.Thread(target=self._save_loop, name="sandbox-saver", daemon=True)
        self._saver.start()

    def _save_loop(self) -> None:
        while not self._stop.wait(self.settings.save_interval):
            if self.ctx.take_dirty():
                try:
                    self.save()
                except OSError:
                    log.exception("could not write the state file")

    def stop_saver(self) -> None:
        self._stop.set()
        if self._saver is not None:
            self._saver.join(timeout=5)
            self._saver = None
        if self.settings.state_file is not None:
            self.save()
