"""Simulated sales reps: they act on the tasks Handoff wrote, so a demo can play weeks of
follow-up in seconds and Handoff has outcomes to pull back.

For every open task tied to a company (HubSpot: a task associated with a company; Salesforce:
a Task whose WhatId is an Account) a rep, after a delay that depends on the task priority:
1. completes the first touch (task COMPLETED / Status Completed, with its completion time),
2. accepts or rejects the lead (disposition and reject reason written on the company /
   Account when those properties / fields exist),
3. if accepted, opens a deal / Opportunity that later closes won or lost with an amount.

The chance of a win follows the time-to-touch bucket (<4h 38%, 4-24h 28%, 24-72h 19%,
>72h 11%) scaled by a hidden per-domain propensity (CSV `domain,propensity`; 0.3 when
unknown) over the mean propensity. Every draw hashes (seed, record, event), so a run is
deterministic under the sandbox seed whatever the order the records are visited in.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm_sandbox.hubspot.schema import format_datetime, parse_datetime
from crm_sandbox.hubspot.store import WritePlan

if TYPE_CHECKING:
    from crm_sandbox.hubspot.api import HubSpotApi
    from crm_sandbox.runtime import Sandbox

log = logging.getLogger("crm_sandbox.reps")

DEFAULT_PROPENSITY = 0.3
# (upper bound in hours, conversion) — time from task creation to first touch.
CONVERSION_BY_TOUCH = ((4.0, 0.38), (24.0, 0.28), (72.0, 0.19), (math.inf, 0.11))
# mean hours to first touch by task priority
TOUCH_MEAN_HOURS = {"HIGH": 3.0, "MEDIUM": 14.0, "LOW": 40.0, "NONE": 30.0}
SF_PRIORITY = {"High": "HIGH", "Normal": "MEDIUM", "Low": "LOW"}
EXACT_EVENTS = 200
# The reject-reason options Handoff provisions (include/config/crm_mapping.yaml): both CRMs
# refuse values outside an enumeration / restricted picklist, so reps only pick from these.
REJECT_REASONS = (
    "bad_timing",
    "no_budget",
    "not_icp",
    "existing_relationship",
    "self_serve_preferred",
    "duplicate",
    "other",
)
DEFAULTS = {
    "reps_hubspot_disposition": "handoff_disposition",
    "reps_hubspot_reject_reason": "handoff_reject_reason",
    "reps_salesforce_disposition": "Handoff_Disposition__c",
    "reps_salesforce_reject_reason": "Handoff_Reject_Reason__c",
    "reps_tick_seconds": 2.0,
}


def _uniform(seed: int, *key: object) -> float:
    text = ":".join(str(k) for k in (seed, *key))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def normalize_domain(raw: str | None) -> str:
    text = (raw or "").strip().lower()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    text = text.removeprefix("www.")
    return text.split("/")[0]


def load_propensities(path: str | None) -> dict[str, float]:
    if not path:
        return {}
    out: dict[str, float] = {}
    with open(Path(path), newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                value = float(row["propensity"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{path}: each row needs domain,propensity") from None
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{path}: propensity {value} for {row.get('domain')} not in [0,1]")
            out[normalize_domain(row.get("domain"))] = value
    return out


def touch_bucket_conversion(hours: float) -> float:
    for bound, conversion in CONVERSION_BY_TOUCH:
        if hours < bound:
            return conversion
    return CONVERSION_BY_TOUCH[-1][1]


def _parse_time(raw: Any) -> datetime | None:
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():  # Salesforce +0000
            text = f"{text[:-2]}:{text[-2:]}"
        return parse_datetime(text)
    return None


class RepSimulator:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.ctx = sandbox.ctx
        self.plans: dict[str, dict[str, Any]] = {}
        self._propensity: dict[str, float] | None = None
        self._propensity_path: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        self.plans = {}
        self._propensity = None

    def dump(self) -> dict[str, Any]:
        return {"plans": self.plans}

    def load(self, data: dict[str, Any]) -> None:
        self.plans = dict(data.get("plans", {}))

    def _setting(self, name: str) -> Any:
        return self.ctx.settings.get(name, DEFAULTS.get(name))

    def propensity(self, domain: str | None) -> float:
        path = self.ctx.settings.get("propensity_file")
        if self._propensity is None or path != self._propensity_path:
            self._propensity = load_propensities(path)
            self._propensity_path = path
        return self._propensity.get(normalize_domain(domain), DEFAULT_PROPENSITY)

    def mean_propensity(self) -> float:
        self.propensity(None)
        assert self._propensity is not None
        values = list(self._propensity.values())
        return sum(values) / len(values) if values else DEFAULT_PROPENSITY

    def summary(self) -> dict[str, Any]:
        counts = {"tasks": len(self.plans), "touched": 0, "accepted": 0, "rejected": 0}
        counts.update({"deals_open": 0, "won": 0, "lost": 0})
        for plan in self.plans.values():
            counts["touched"] += plan["stage"] != "waiting"
            if plan["stage"] in ("deal_open", "won", "lost", "accepted"):
                counts["accepted"] += 1
            counts["rejected"] += plan["stage"] == "rejected"
            counts["deals_open"] += plan["stage"] == "deal_open"
            counts["won"] += plan["stage"] == "won"
            counts["lost"] += plan["stage"] == "lost"
        return {"now": self.ctx.clock.now().isoformat(), **counts}

    # --- driving -------------------------------------------------------------------------
    def run(self, days: float, step_hours: float = 1.0) -> dict[str, Any]:
        """Advance the simulated clock by `days`, letting reps act at each event exactly."""
        end = self.ctx.clock.now() + timedelta(days=days)
        step = timedelta(hours=step_hours)
        while True:
            self.tick()
            now = self.ctx.clock.now()
            if now >= end:
                break
            upcoming = [
                t for t in (self._next_event(p) for p in self.plans.values()) if t and t > now
            ]
            # Land on each event exactly while there are few; with many, step and let each
            # write carry its own scheduled time (completion / close dates are exact anyway).
            exact = upcoming if len(upcoming) <= EXACT_EVENTS else []
            target = min([end, now + step, *exact])
            self.ctx.clock.set_now(max(target, now + timedelta(microseconds=1)))
        self.ctx.mark_dirty()
        return self.summary()

    def start_background(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sandbox-reps", daemon=True)
        self._thread.start()

    def stop_background(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(float(self._setting("reps_tick_seconds"))):
            try:
                if self.tick():
                    self.ctx.mark_dirty()
            except Exception:
                log.exception("simulated reps failed")

    @staticmethod
    def _next_event(plan: dict[str, Any]) -> datetime | None:
        key = {"waiting": "touch_at", "deal_open": "close_at"}.get(plan["stage"])
        return datetime.fromisoformat(plan[key]) if key else None

    def tick(self) -> int:
        """Discover new tasks and act on everything due; returns how many actions ran."""
        actions = 0
        with self.ctx.lock:
            hubspot = self.sandbox.api_named("hubspot")
            if hubspot is not None:
                actions += HubSpotReps(self, hubspot).tick()  # type: ignore[arg-type]
            salesforce = self.sandbox.api_named("salesforce")
            if salesforce is not None and all(
                hasattr(salesforce, m)
                for m in ("list_records", "create_record", "update_record", "has_field")
            ):
                actions += SalesforceReps(self, salesforce).tick()
        return actions

    # --- shared decisions ----------------------------------------------------------------
    def new_plan(self, key: str, created: datetime, priority: str, domain: str | None) -> dict:
        seed = self.ctx.seed
        mean = TOUCH_MEAN_HOURS.get(priority, TOUCH_MEAN_HOURS["NONE"])
        delay = -mean * math.log(1 - _uniform(seed, key, "touch") * 0.999)
        touch_at = created + timedelta(hours=delay)
        conversion = touch_bucket_conversion(delay) * self.propensity(domain)
        conversion = min(0.95, conversion / self.mean_propensity())
        accept_p = min(0.98, 0.35 + conversion)
        accepted = _uniform(seed, key, "accept") < accept_p
        won = accepted and _uniform(seed, key, "win") < conversion / accept_p
        close_days = 7 + 38 * _uniform(seed, key, "close")
        amount = round(5_000 + 45_000 * _uniform(seed, key, "amount"), -2)
        reasons = REJECT_REASONS
        return {
            "stage": "waiting",
            "touch_at": touch_at.isoformat(),
            "hours_to_touch": round(delay, 2),
            "accepted": accepted,
            "won": won,
            "close_at": (touch_at + timedelta(days=close_days)).isoformat(),
            "amount": amount,
            "reason": reasons[int(_uniform(seed, key, "reason") * len(reasons))],
        }


class HubSpotReps:
    def __init__(self, sim: RepSimulator, api: HubSpotApi) -> None:
        self.sim = sim
        self.store = api.store

    def tick(self) -> int:
        now = self.sim.ctx.clock.now()
        actions = 0
        for task in list(self.store.objects["tasks"].values()):
            if task.archived:
                continue
            key = f"hubspot:task:{task.id}"
            plan = self.sim.plans.get(key)
            companies = self.store.associated("tasks", task.id, "companies")
            if plan is None:
                if not companies or task.properties.get("hs_task_status") == "COMPLETED":
                    continue
                company = self.store.live("companies", companies[0][0])
                created = parse_datetime(task.createdAt) or now
                priority = task.properties.get("hs_task_priority") or "NONE"
                domain = company.properties.get("domain") if company else None
                plan = self.sim.new_plan(key, created, priority, domain)
                plan["company"] = companies[0][0]
                self.sim.plans[key] = plan
            actions += self.advance(task.id, plan, now)
        return actions

    def advance(self, task_id: str, plan: dict[str, Any], now: datetime) -> int:
        actions = 0
        if plan["stage"] == "waiting" and datetime.fromisoformat(plan["touch_at"]) <= now:
            touched = format_datetime(datetime.fromisoformat(plan["touch_at"]))
            if self.store.live("tasks", task_id) is not None:
                self.store.set_system(
                    "tasks",
                    task_id,
                    {"hs_task_status": "COMPLETED", "hs_task_completion_date": touched},
                )
            company = plan["company"]
            if self.store.live("companies", company) is None:
                plan["stage"] = "rejected"
                return 1
            self.disposition(company, plan)
            if plan["accepted"]:
                plan["deal"] = self.open_deal(company, plan)
                plan["stage"] = "deal_open"
            else:
                plan["stage"] = "rejected"
            actions += 1
        if plan["stage"] == "deal_open" and datetime.fromisoformat(plan["close_at"]) <= now:
            if self.store.live("deals", plan["deal"]) is not None:
                changes: dict[str, str | None] = {
                    "dealstage": "closedwon" if plan["won"] else "closedlost",
                    "closedate": format_datetime(datetime.fromisoformat(plan["close_at"])),
                    "amount": str(int(plan["amount"])),
                }
                if not plan["won"]:
                    changes["closed_lost_reason"] = "Chose another vendor"
                self.store.set_system("deals", plan["deal"], changes)
            plan["stage"] = "won" if plan["won"] else "lost"
            actions += 1
        return actions

    def _writable(self, name: str, value: str) -> str | None:
        prop = self.store.prop("companies", name)
        if prop is None:
            return None
        if prop.type == "enumeration":
            values = [o.value for o in prop.options]
            return value if value in values else None
        return value if prop.type == "string" else None

    def disposition(self, company: str, plan: dict[str, Any]) -> None:
        changes: dict[str, str | None] = {}
        name = self.sim._setting("reps_hubspot_disposition")
        value = self._writable(name, "accepted" if plan["accepted"] else "rejected")
        if value:
            changes[name] = value
        if not plan["accepted"]:
            reason_name = self.sim._setting("reps_hubspot_reject_reason")
            reason = self._writable(reason_name, plan["reason"])
            if reason:
                changes[reason_name] = reason
        if changes:
            self.store.set_system("companies", company, changes)

    def open_deal(self, company_id: str, plan: dict[str, Any]) -> str:
        company = self.store.live("companies", company_id)
        name = (company.properties.get("name") if company else None) or f"Company {company_id}"
        touched = datetime.fromisoformat(plan["touch_at"])
        changes: dict[str, str | None] = {
            "dealname": f"{name} - Handoff",
            "pipeline": "default",
            "dealstage": "appointmentscheduled",
            "amount": str(int(plan["amount"])),
            "closedate": format_datetime(datetime.fromisoformat(plan["close_at"])),
            "createdate": format_datetime(touched),
        }
        record, _ = self.store.apply(
            "deals", WritePlan("create", changes, associations=[("companies", company_id, 341)])
        )
        return record.id


class SalesforceReps:
    def __init__(self, sim: RepSimulator, api: Any) -> None:
        self.sim = sim
        self.api = api

    def tick(self) -> int:
        now = self.sim.ctx.clock.now()
        actions = 0
        accounts: dict[str, dict[str, Any]] | None = None
        for task in self.api.list_records("Task"):
            what = str(task.get("WhatId") or "")
            key = f"salesforce:task:{task['Id']}"
            plan = self.sim.plans.get(key)
            if plan is None:
                if not what.startswith("001") or task.get("Status") == "Completed":
                    continue
                if accounts is None:
                    accounts = {a["Id"]: a for a in self.api.list_records("Account")}
                account = accounts.get(what)
                if account is None:
                    continue
                created = _parse_time(task.get("CreatedDate")) or now
                priority = SF_PRIORITY.get(str(task.get("Priority")), "MEDIUM")
                plan = self.sim.new_plan(key, created, priority, self.domain(account))
                plan["company"] = what
                self.sim.plans[key] = plan
            actions += self.advance(task["Id"], plan, now)
        return actions

    def domain(self, account: dict[str, Any]) -> str | None:
        for name in ("Handoff_Domain__c", "Domain__c", "Website"):
            if account.get(name):
                return str(account[name])
        return None

    def advance(self, task_id: str, plan: dict[str, Any], now: datetime) -> int:
        actions = 0
        if plan["stage"] == "waiting" and datetime.fromisoformat(plan["touch_at"]) <= now:
            try:
                self.api.update_record("Task", task_id, {"Status": "Completed"})
            except (KeyError, ValueError):
                log.info("task %s vanished before the rep touched it", task_id)
            self.disposition(plan)
            if plan["accepted"]:
                plan["deal"] = self.api.create_record(
                    "Opportunity",
                    {
                        "Name": "Handoff opportunity",
                        "AccountId": plan["company"],
                        "StageName": "Prospecting",
                        "CloseDate": datetime.fromisoformat(plan["close_at"]).date().isoformat(),
                        "Amount": plan["amount"],
                    },
                )
                plan["stage"] = "deal_open"
            else:
                plan["stage"] = "rejected"
            actions += 1
        if plan["stage"] == "deal_open" and datetime.fromisoformat(plan["close_at"]) <= now:
            try:
                self.api.update_record(
                    "Opportunity",
                    plan["deal"],
                    {
                        "StageName": "Closed Won" if plan["won"] else "Closed Lost",
                        "CloseDate": datetime.fromisoformat(plan["close_at"]).date().isoformat(),
                        "Amount": plan["amount"],
                    },
                )
            except (KeyError, ValueError):
                log.info("opportunity %s vanished before it closed", plan["deal"])
            plan["stage"] = "won" if plan["won"] else "lost"
            actions += 1
        return actions

    def disposition(self, plan: dict[str, Any]) -> None:
        fields: dict[str, Any] = {}
        name = self.sim._setting("reps_salesforce_disposition")
        if self.api.has_field("Account", name):
            fields[name] = "accepted" if plan["accepted"] else "rejected"
        reason = self.sim._setting("reps_salesforce_reject_reason")
        if not plan["accepted"] and self.api.has_field("Account", reason):
            fields[reason] = plan["reason"]
        if fields:
            try:
                self.api.update_record("Account", plan["company"], fields)
            except (KeyError, ValueError) as exc:
                # e.g. a restricted picklist without this reason: keep the disposition alone
                log.info("could not write the disposition on %s: %s", plan["company"], exc)
                if reason in fields and len(fields) > 1:
                    fields.pop(reason)
                    try:
                        self.api.update_record("Account", plan["company"], fields)
                    except (KeyError, ValueError) as again:
                        log.info("nor the disposition alone on %s: %s", plan["company"], again)
