"""The HubSpot destination: properties through the Properties API, upserts through the CRM v3
batch upsert (100 inputs a call, `idProperty` per input), batch reads by the unique key, owners,
and one task per trigger episode (batch upsert on tasks by a unique task property, then a
default association v4 to the company), all through the official `hubspot-api-client`.

Every HTTP request the client makes goes through one choke point (an `api_factory` that wraps
each generated API client's REST client): it paces requests from the
`X-HubSpot-RateLimit-*` headers (and an optional configured `requests_per_10s`), counts them
(`api_calls`) and keeps the latest rate-limit headers. Around it, tenacity retries 429
(TEN_SECONDLY_ROLLING / SECONDLY: wait for the window), 423 (about 2 s), 5xx and dropped
connections with exponential backoff and jitter; a DAILY 429 and a 401/403 raise CrmError at
once. Every upsert input carries a unique `objectWriteTraceId` so a 207 attributes errors to
records; a batch that fails whole (400/409) is split in halves, recursively, to isolate the bad
record(s) and let the rest through. A rejected record becomes a failed RecordResult with
HubSpot's own message; nothing here raises for one bad record.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import tenacity
import urllib3
from hubspot import HubSpot
from hubspot.discovery.discovery_base import DiscoveryBase
from urllib3.util.retry import Retry

from handoff.crm.base import (
    CrmError,
    FieldSpec,
    ProvisionResult,
    RecordResult,
    TaskSpec,
    UpsertRecord,
    chunks,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_SIZE = 100  # HubSpot batch endpoints take at most 100 inputs
ASSOCIATION_BATCH = 100
OWNERS_PAGE = 100
LOCKED_WAIT = 2.0  # 423 Locked: HubSpot asks to wait about 2 s
TASK_SUBJECT_MAX = 255
TASK_BODY_MAX = 65_000
TASK_GROUP = "handoff"
TASK_GROUP_LABEL = "Handoff"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
OBJECTS = {"companies", "contacts", "deals", "tasks"}
# FieldSpec.type -> (HubSpot type, fieldType)
TYPES: dict[str, tuple[str, str]] = {
    "string": ("string", "text"),
    "text": ("string", "textarea"),
    "number": ("number", "number"),
    "bool": ("bool", "booleancheckbox"),
    "date": ("date", "date"),
    "datetime": ("datetime", "date"),
    "enumeration": ("enumeration", "select"),
}
BOOL_OPTIONS = [
    {"label": "Yes", "value": "true", "displayOrder": 0},
    {"label": "No", "value": "false", "displayOrder": 1},
]
# errors of one record that are worth sending again on a later run
RETRYABLE_CATEGORIES = frozenset({"RATE_LIMITS", "LOCKED", "INTERNAL_ERROR", "TIMEOUT"})


class _Transient(Exception):
    """A failure worth retrying: 429 (window), 423, 5xx, a dropped connection."""

    def __init__(self, message: str, status: int | None, wait: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.wait = wait


@dataclass
class _Answer:
    status: int
    body: Any
    headers: dict[str, str]


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise CrmError(
            f"invalid HubSpot {what} name {name!r}: lower-case letters, digits and underscores, "
            "starting with a letter"
        )
    return name


def _check_object(obj: str) -> str:
    if obj not in OBJECTS:
        raise CrmError(f"unsupported HubSpot object {obj!r}; expected one of {sorted(OBJECTS)}")
    return obj


def _iso_ms(moment: datetime) -> str:
    """A datetime as HubSpot writes it: UTC, milliseconds, Z (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hubspot_value(value: Any) -> str:
    """One property value as HubSpot takes it: strings; "" clears."""
    if value is None:
        return ""
    try:
        if value != value:  # NaN, NaT
            return ""
    except (TypeError, ValueError):  # pandas.NA refuses to be a bool
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _iso_ms(value)
    if isinstance(value, date):
        return value.isoformat()  # date properties: YYYY-MM-DD (midnight UTC)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            return ""
        if number == int(number) and abs(number) < 1e15:
            return str(int(number))
        return format(Decimal(str(value)), "f") if isinstance(value, float) else format(value, "f")
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(hubspot_value(v) for v in value)  # multi-select checkboxes
    if hasattr(value, "isoformat") and hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return _iso_ms(value.to_pydatetime())
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return hubspot_value(value.item())
    return str(value)


def _json(raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", "replace")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def _headers(raw: Any) -> dict[str, str]:
    if not raw:
        return {}
    try:
        return {str(k).lower(): str(v) for k, v in dict(raw).items()}
    except (TypeError, ValueError):
        return {}


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _error_text(body: Any, status: int | None = None) -> str:
    """HubSpot's error: category, message and the codes of its details."""
    if isinstance(body, dict):
        message = str(body.get("message") or "").strip()
        category = body.get("category") or body.get("errorType")
        codes = []
        for detail in body.get("errors") or []:
            if isinstance(detail, dict) and detail.get("code"):
                prop = (detail.get("context") or {}).get("propertyName")
                names = ", ".join(map(str, prop)) if isinstance(prop, list) else prop
                codes.append(f"{detail['code']} ({names})" if names else str(detail["code"]))
        text = f"{category}: {message}" if category else message
        if codes:
            text += f" [{'; '.join(dict.fromkeys(codes))}]"
        return text or f"HTTP {status}"
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return f"HTTP {status}" if status else "no answer"


class _Window:
    """At most `limit` requests in any `seconds`: our own requests, stamped on answer."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = max(1, limit)
        self.seconds = seconds
        self.stamps: deque[float] = deque()

    def wait(self, now: float) -> float:
        while self.stamps and self.stamps[0] <= now - self.seconds:
            self.stamps.popleft()
        if len(self.stamps) < self.limit:
            return 0.0
        margin = 0.02 + 0.02 * self.seconds
        return self.stamps[len(self.stamps) - self.limit] + self.seconds - now + margin


class HubSpotDestination:
    """`handoff.crm.base.Destination` for HubSpot over the official `hubspot-api-client`.

    `host`: another API host (e.g. a local sandbox); `ca_bundle`: a CA file to trust for it.
    `requests_per_10s`: a ceiling of our own on top of HubSpot's headers (e.g. to leave room
    for other integrations of the portal). `max_retries`: retries per request on transient
    failures (so max_retries + 1 attempts). `company_key_field`: the unique company property
    tasks find their company by (TaskSpec.account_key).
    """

    name = "hubspot"

    def __init__(
        self,
        access_token: str,
        host: str | None = None,
        ca_bundle: str | None = None,
        requests_per_10s: int | None = None,
        max_retries: int = 5,
        *,
        company_key_field: str = "handoff_account_key",
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 60.0,
    ) -> None:
        if not access_token:
            raise CrmError(
                "HubSpot access token is missing (set it on the hubspot_default connection)"
            )
        if requests_per_10s is not None and requests_per_10s < 1:
            raise CrmError("requests_per_10s must be at least 1")
        self._token = access_token
        self.max_retries = max(0, int(max_retries))
        self.company_key_field = _check_name(company_key_field, "property")
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.api_calls = 0
        self.rate_limit: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self._configured = _Window(requests_per_10s, 10.0) if requests_per_10s is not None else None
        self._header_window: _Window | None = None
        self._remaining: int | None = None
        self._remaining_at = 0.0
        self._task_keys_ready: set[str] = set()
        kwargs: dict[str, Any] = {
            "access_token": access_token,
            # one HTTP request per call: retries are ours, so each one is paced and counted
            "retry": Retry(total=0, connect=0, read=0, redirect=0, status=0),
            "api_factory": self._api_factory,
        }
        if host:
            kwargs["host"] = host.rstrip("/")
        if ca_bundle:
            kwargs["ssl_ca_cert"] = ca_bundle
        self.client = HubSpot(**kwargs)
        crm = self.client.crm
        self._objects = crm.objects.batch_api
        self._properties = crm.properties.core_api
        self._property_batch = crm.properties.batch_api
        self._groups = crm.properties.groups_api
        self._owners = crm.owners.owners_api
        self._associations = crm.associations.v4.batch_api

    def close(self) -> None:
        """Close the client's pooled HTTPS connections (the adapter stays usable)."""
        apis = (
            self._objects,
            self._properties,
            self._property_batch,
            self._groups,
            self._owners,
            self._associations,
        )
        for api in apis:
            api.api_client.rest_client.pool_manager.clear()

    # --- transport ------------------------------------------------------------------------
    def _api_factory(self, package: Any, api_name: str, config: dict[str, Any]) -> Any:
        """The client's default factory, with every HTTP request paced and counted."""
        api = DiscoveryBase._default_api_factory(package, api_name, config)
        rest = api.api_client.rest_client
        send = rest.request

        def request(*args: Any, **kwargs: Any) -> Any:
            self._pace()
            with self._lock:
                self.api_calls += 1
            try:
                response = send(*args, **kwargs)
            except Exception as exc:  # ApiException carries headers; a drop carries none
                self._observe(getattr(exc, "headers", None))
                raise
            self._observe(getattr(response, "headers", None))
            return response

        rest.request = request
        return api

    def _observe(self, raw: Any) -> None:
        headers = _headers(raw)
        now = time.monotonic()
        limit = _int(headers.get("x-hubspot-ratelimit-max"))
        interval = _int(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
        remaining = _int(headers.get("x-hubspot-ratelimit-remaining"))
        with self._lock:
            if self._configured is not None:
                self._configured.stamps.append(now)
            if limit and interval:
                window = self._header_window
                if window is None or window.limit != limit or window.seconds != interval / 1000:
                    stamps = window.stamps if window is not None else deque()
                    window = self._header_window = _Window(limit, interval / 1000)
                    window.stamps = stamps
                window.stamps.append(now)
            elif self._header_window is not None:
                self._header_window.stamps.append(now)
            if remaining is not None:
                ours = 0
                if self._header_window is not None:
                    cutoff = now - self._header_window.seconds
                    ours = sum(1 for t in self._header_window.stamps if t > cutoff)
                # a window used up by our own requests is paced by _Window already; only a
                # budget spent by someone else (another integration) needs the extra wait
                spent_by_us = limit is not None and limit - remaining <= ours
                self._remaining = None if spent_by_us else remaining
                self._remaining_at = now
            for name in ("max", "remaining", "daily", "daily-remaining"):
                value = _int(headers.get(f"x-hubspot-ratelimit-{name}"))
                if value is not None:
                    self.rate_limit[name] = value

    def _pace(self) -> None:
        """Sleep until the next request fits the window HubSpot told us about (and ours)."""
        while True:
            now = time.monotonic()
            with self._lock:
                waits = [w.wait(now) for w in (self._configured, self._header_window) if w]
                window = self._header_window
                if (
                    self._remaining is not None
                    and self._remaining <= 0
                    and window is not None
                    and now < self._remaining_at + window.seconds
                    and not any(waits)
                ):
                    # the portal's budget is spent by someone else: wait for the window to roll
                    waits.append(self._remaining_at + window.seconds - now + 0.05)
                    self._remaining = None
            delay = max(waits, default=0.0)
            if delay <= 0:
                return
            log.debug("HubSpot pacing: sleeping %.2fs to stay under the rate limit", delay)
            time.sleep(min(delay, 15.0))

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _once(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Answer:
        """One request; non-2xx answers other than 401/403/429/423/5xx come back as _Answer."""
        try:
            response = fn(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
        except urllib3.exceptions.HTTPError as exc:  # dropped connection, timeout, refused
            raise _Transient(
                f"{what}: no answer from HubSpot ({type(exc).__name__})", None
            ) from None
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status is None:
                raise
            body = _json(getattr(exc, "body", None))
            headers = _headers(getattr(exc, "headers", None))
            return self._classify(what, int(status), body, headers)
        body = _json(response.data)
        response.release_conn()
        return _Answer(int(response.status), body, _headers(response.headers))

    def _classify(self, what: str, status: int, body: Any, headers: dict[str, str]) -> _Answer:
        text = self._scrub(_error_text(body, status))
        if status == 0:
            raise _Transient(f"{what}: no answer from HubSpot ({text})", None)
        if status == 401:
            raise CrmError(
                f"{what}: HubSpot refused the access token (401 {text}); check the "
                "hubspot_default connection's token",
                status=401,
            )
        if status == 403:
            raise CrmError(
                f"{what}: HubSpot denied access (403 {text}); the private app needs the CRM "
                "scopes for this object",
                status=403,
            )
        if status == 429:
            policy = body.get("policyName") if isinstance(body, dict) else None
            if policy == "DAILY":
                raise CrmError(
                    f"{what}: HubSpot's daily API limit is spent (429 DAILY); try again after "
                    "the portal's midnight",
                    retryable=False,
                    status=429,
                )
            interval = _int(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
            wait = (interval or 10_000) / 1000 if policy != "SECONDLY" else 1.0
            raise _Transient(f"{what}: 429 {policy or 'rate limited'}", 429, wait)
        if status == 423:
            raise _Transient(f"{what}: 423 locked ({text})", 423, LOCKED_WAIT)
        if status >= 500:
            raise _Transient(f"{what}: HTTP {status} ({text})", status)
        return _Answer(status, body, headers)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Answer:
        """`_once` with retries (tenacity: exponential backoff with jitter, or HubSpot's wait)."""
        backoff = tenacity.wait_exponential_jitter(
            initial=self.backoff_initial, max=self.backoff_max, jitter=self.backoff_initial
        )

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Transient) and exc.wait is not None:
                return exc.wait + random.uniform(0, 0.1 * exc.wait)
            return backoff(state)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s; retry %d of %d", exc, state.attempt_number, self.max_retries)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=wait,
            retry=tenacity.retry_if_exception_type(_Transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._once, what, fn, *args, **kwargs)
        except _Transient as exc:
            raise CrmError(
                f"{exc}; gave up after {self.max_retries + 1} attempts",
                retryable=True,
                status=exc.status,
            ) from None

    def _expect(self, what: str, answer: _Answer, *ok: int) -> Any:
        if answer.status in ok or (not ok and 200 <= answer.status < 300):
            return answer.body
        raise CrmError(
            f"{what}: HubSpot answered {answer.status}: "
            f"{self._scrub(_error_text(answer.body, answer.status))}",
            status=answer.status,
        )

    # --- provisioning ---------------------------------------------------------------------
    def provision(self, obj: str, group: str, fields: list[FieldSpec]) -> ProvisionResult:
        """Create the group and the missing properties; update enumeration options that are
        missing; report the rest as existing. Reads first, so a second run only reads."""
        _check_object(obj)
        _check_name(group, "property group")
        for spec in fields:
            _check_name(spec.name, "property")
            if spec.type not in TYPES:
                raise CrmError(f"property {spec.name}: unsupported type {spec.type!r}")
            if spec.type == "enumeration" and not spec.options:
                raise CrmError(f"property {spec.name}: an enumeration needs options")
        answer = self._call(f"list {obj} property groups", self._groups.get_all, obj)
        groups = {
            g.get("name") for g in (self._expect("list groups", answer) or {}).get("results", [])
        }
        if group not in groups:
            body = {"name": group, "label": group.replace("_", " ").title(), "displayOrder": -1}
            answer = self._call(
                f"create {obj} property group {group}", self._groups.create, obj, body
            )
            if answer.status != 409:  # created meanwhile by someone else: fine
                self._expect(f"create {obj} property group {group}", answer)
        answer = self._call(f"list {obj} properties", self._properties.get_all, obj)
        existing = {
            p.get("name"): p
            for p in (self._expect("list properties", answer) or {}).get("results", [])
        }
        created: list[str] = []
        present: list[str] = []
        updated: list[str] = []
        missing: list[dict[str, Any]] = []
        for spec in fields:
            current = existing.get(spec.name)
            if current is None:
                missing.append(self._property_body(spec, group))
                continue
            present.append(spec.name)
            hs_type = TYPES[spec.type][0]
            if current.get("type") != hs_type:
                log.warning(
                    "HubSpot %s property %s is of type %s, not %s: left as it is",
                    obj,
                    spec.name,
                    current.get("type"),
                    hs_type,
                )
            if spec.unique and not current.get("hasUniqueValue"):
                log.warning(
                    "HubSpot %s property %s has no unique values: upserts by it will fail",
                    obj,
                    spec.name,
                )
            if spec.type == "enumeration" and current.get("type") == "enumeration":
                have = [o for o in current.get("options") or [] if isinstance(o, dict)]
                values = {str(o.get("value")) for o in have}
                new = [v for v in spec.options if v not in values]
                if new:
                    options = [
                        {
                            "label": str(o.get("label", o.get("value"))),
                            "value": str(o.get("value")),
                            "displayOrder": int(o.get("displayOrder", i)),
                            "hidden": bool(o.get("hidden", False)),
                        }
                        for i, o in enumerate(have)
                    ]
                    options += [
                        {"label": v, "value": v, "displayOrder": len(have) + i, "hidden": False}
                        for i, v in enumerate(new)
                    ]
                    what = f"update options of {obj} property {spec.name}"
                    answer = self._call(
                        what, self._properties.update, obj, spec.name, {"options": options}
                    )
                    self._expect(what, answer)
                    updated.append(spec.name)
        for chunk in chunks(missing, BATCH_SIZE):
            what = f"create {len(chunk)} {obj} propert(ies)"
            answer = self._call(what, self._property_batch.create, obj, {"inputs": list(chunk)})
            body = self._expect(what, answer, 200, 201, 207) or {}
            made = {str(p.get("name")) for p in body.get("results") or []}
            created += [p["name"] for p in chunk if p["name"] in made]
            failed = [p["name"] for p in chunk if p["name"] not in made]
            if failed:
                problems = "; ".join(self._scrub(_error_text(e)) for e in body.get("errors") or [])
                # a property created meanwhile (OBJECT_ALREADY_EXISTS) is fine: look again
                answer = self._call(f"list {obj} properties", self._properties.get_all, obj)
                now = {
                    p.get("name") for p in (self._expect("list", answer) or {}).get("results", [])
                }
                still = [n for n in failed if n not in now]
                present += [n for n in failed if n in now]
                if still:
                    raise CrmError(
                        f"HubSpot refused to create {obj} properties {', '.join(still)}: "
                        f"{problems or 'no reason given'}"
                    )
        return ProvisionResult(created=created, existing=present, updated=updated)

    @staticmethod
    def _property_body(spec: FieldSpec, group: str) -> dict[str, Any]:
        hs_type, field_type = TYPES[spec.type]
        body: dict[str, Any] = {
            "name": spec.name,
            "label": spec.label,
            "type": hs_type,
            "fieldType": field_type,
            "groupName": group,
            "description": spec.description,
        }
        if spec.type == "enumeration":
            body["options"] = [
                {"label": v, "value": v, "displayOrder": i, "hidden": False}
                for i, v in enumerate(spec.options)
            ]
        elif spec.type == "bool":
            body["options"] = BOOL_OPTIONS
        if spec.unique:
            body["hasUniqueValue"] = True
        return body

    # --- upsert ---------------------------------------------------------------------------
    def upsert(self, obj: str, key_field: str, records: list[UpsertRecord]) -> list[RecordResult]:
        """Batch upsert by `key_field` (a hasUniqueValue property), 100 inputs a call; one
        result per record in input order. A key repeated in `records` goes to a later batch,
        so the last value wins."""
        _check_object(obj)
        _check_name(key_field, "property")
        results: list[RecordResult | None] = [None] * len(records)
        for batch in self._batches(records):
            for index, result in zip(
                batch, self._upsert_batch(obj, key_field, records, batch), strict=True
            ):
                results[index] = result
        return [r for r in results if r is not None]

    @staticmethod
    def _batches(records: list[UpsertRecord]) -> list[list[int]]:
        """Indexes in batches of at most 100 with no key twice in one batch (HubSpot: 400)."""
        batches: list[list[int]] = []
        keys: list[set[str]] = []
        start = 0  # the first batch that may still take a record
        last: dict[str, int] = {}  # key -> batch of its latest occurrence
        for index, record in enumerate(records):
            lo = max(start, last.get(record.key, -1) + 1)
            while lo < len(batches) and (len(batches[lo]) >= BATCH_SIZE or record.key in keys[lo]):
                lo += 1
            if lo == len(batches):
                batches.append([])
                keys.append(set())
            batches[lo].append(index)
            keys[lo].add(record.key)
            last[record.key] = lo
            while start < len(batches) and len(batches[start]) >= BATCH_SIZE:
                start += 1
        return batches

    def _upsert_batch(
        self, obj: str, key_field: str, records: list[UpsertRecord], batch: list[int]
    ) -> list[RecordResult]:
        outcome = self._send_upsert(obj, key_field, [records[i] for i in batch])
        if isinstance(outcome, list):
            return outcome
        return self._split(obj, key_field, [records[i] for i in batch], outcome)

    def _split(
        self, obj: str, key_field: str, chunk: list[UpsertRecord], error: str
    ) -> list[RecordResult]:
        """The batch failed whole: try each half, recursively, so only bad records fail."""
        if len(chunk) == 1:
            return [RecordResult(chunk[0].key, ok=False, error=error)]
        mid = len(chunk) // 2
        halves = [chunk[:mid], chunk[mid:]]
        outcomes = [self._send_upsert(obj, key_field, half) for half in halves]
        if all(o == error for o in outcomes):
            # both halves fail exactly like the whole: a problem of the request, not a record
            return [RecordResult(r.key, ok=False, error=error) for r in chunk]
        results: list[RecordResult] = []
        for half, out in zip(halves, outcomes, strict=True):
            results += out if isinstance(out, list) else self._split(obj, key_field, half, out)
        return results

    def _send_upsert(
        self, obj: str, key_field: str, chunk: Sequence[UpsertRecord]
    ) -> list[RecordResult] | str:
        """One batch upsert call: per-record results, or the error when it failed whole."""
        run = uuid.uuid4().hex[:12]
        traces = [f"{run}-{i}" for i in range(len(chunk))]
        inputs = [
            {
                "idProperty": key_field,
                "id": record.key,
                "objectWriteTraceId": trace,
                "properties": {
                    name: hubspot_value(value)
                    for name, value in record.fields.items()
                    if name != key_field
                },
            }
            for record, trace in zip(chunk, traces, strict=True)
        ]
        what = f"upsert {len(chunk)} {obj} by {key_field}"
        answer = self._call(what, self._objects.upsert, obj, {"inputs": inputs})
        if answer.status in (400, 409, 422):
            return self._scrub(_error_text(answer.body, answer.status))
        body = self._expect(what, answer, 200, 201, 207) or {}
        by_trace: dict[str, dict[str, Any]] = {}
        by_key: dict[str, dict[str, Any]] = {}
        untraced: list[dict[str, Any]] = []
        for item in body.get("results") or []:
            if not isinstance(item, dict):
                continue
            trace = item.get("objectWriteTraceId")
            key = (item.get("properties") or {}).get(key_field)
            if trace:
                by_trace[str(trace)] = item
            elif key is not None:
                by_key.setdefault(str(key), item)
            else:
                untraced.append(item)
        errors: dict[str, dict[str, Any]] = {}
        for err in body.get("errors") or []:
            if not isinstance(err, dict):
                continue
            ids = (err.get("context") or {}).get("objectWriteTraceId") or []
            for trace in ids if isinstance(ids, list) else [ids]:
                errors.setdefault(str(trace), err)
        unattributed = [
            e
            for e in body.get("errors") or []
            if isinstance(e, dict) and not (e.get("context") or {}).get("objectWriteTraceId")
        ]
        results: list[RecordResult] = []
        for record, trace in zip(chunk, traces, strict=True):
            item = by_trace.get(trace) or by_key.pop(record.key, None)
            if item is None and trace not in errors and untraced and not unattributed:
                item = untraced.pop(0)  # neither trace id nor key echoed: HubSpot's order
            if item is not None:
                results.append(
                    RecordResult(
                        record.key,
                        ok=True,
                        crm_id=str(item.get("id")) if item.get("id") is not None else None,
                        created=bool(item.get("new")) if "new" in item else None,
                    )
                )
            elif trace in errors:
                err = errors[trace]
                results.append(
                    RecordResult(
                        record.key,
                        ok=False,
                        error=self._scrub(_error_text(err)),
                        retryable=str(err.get("category")) in RETRYABLE_CATEGORIES,
                    )
                )
            else:
                reason = (
                    self._scrub(_error_text(unattributed[0]))
                    if unattributed
                    else "HubSpot returned no result for this record"
                )
                results.append(RecordResult(record.key, ok=False, error=reason, retryable=True))
        return results

    # --- read -----------------------------------------------------------------------------
    def read(
        self, obj: str, key_field: str, keys: list[str], fields: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Current values (as HubSpot returns them: strings, or None) of `fields` for the
        records whose `key_field` is one of `keys`; missing keys are absent."""
        found = self._read(obj, key_field, keys, fields)
        return {
            key: {name: values.get(name) for name in fields} for key, (_, values) in found.items()
        }

    def _read(
        self, obj: str, key_field: str, keys: list[str], fields: list[str]
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        """Batch read by `key_field`, 100 keys a call: key -> (HubSpot id, properties)."""
        _check_object(obj)
        _check_name(key_field, "property")
        wanted = list(dict.fromkeys(k for k in keys if k))
        props = list(dict.fromkeys([*fields, key_field]))
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for chunk in chunks(wanted, BATCH_SIZE):
            what = f"read {len(chunk)} {obj} by {key_field}"
            body = {
                "idProperty": key_field,
                "inputs": [{"id": k} for k in chunk],
                "properties": props,
                "propertiesWithHistory": [],
            }
            answer = self._call(what, self._objects.read, obj, body, archived=False)
            data = self._expect(what, answer, 200, 207) or {}
            exact = {k: k for k in chunk}
            folded = {k.lower(): k for k in chunk}
            for item in data.get("results") or []:
                values = item.get("properties") or {}
                value = values.get(key_field)
                if value is None:
                    continue
                key = exact.get(str(value)) or folded.get(str(value).lower())
                if key is not None:
                    out[key] = (str(item.get("id")), values)
        return out

    # --- owners ---------------------------------------------------------------------------
    def owners(self) -> dict[str, str]:
        """Active owners: lower-cased email -> owner id (paged)."""
        out: dict[str, str] = {}
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": OWNERS_PAGE, "archived": False}
            if after:
                kwargs["after"] = after
            answer = self._call("list owners", self._owners.get_page, **kwargs)
            body = self._expect("list owners", answer) or {}
            for owner in body.get("results") or []:
                email = owner.get("email")
                if email and owner.get("id") is not None:
                    out.setdefault(str(email).lower(), str(owner["id"]))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    # --- tasks ----------------------------------------------------------------------------
    def _ensure_task_key(self, task_key_field: str) -> None:
        if task_key_field in self._task_keys_ready:
            return
        spec = FieldSpec(
            name=task_key_field,
            label="Handoff task key",
            type="string",
            description="Handoff's trigger episode id: one task per episode",
            unique=True,
        )
        self.provision("tasks", TASK_GROUP, [spec])
        self._task_keys_ready.add(task_key_field)

    def create_tasks(self, tasks: list[TaskSpec], task_key_field: str) -> list[RecordResult]:
        """One HubSpot task per spec, found or created by `task_key_field` = TaskSpec.key, and
        associated with the company whose `company_key_field` is TaskSpec.account_key.

        A task that exists already is left as it is (a rep may have completed it) and reported
        with created=False; its company association is (re)asserted, which is idempotent. A
        task whose company is not in HubSpot yet is not created (failed, retryable)."""
        _check_name(task_key_field, "property")
        if not tasks:
            return []
        self._ensure_task_key(task_key_field)
        unique = list(dict.fromkeys(t.key for t in tasks))
        existing = self._read("tasks", task_key_field, unique, [task_key_field])
        companies = self._read(
            "companies",
            self.company_key_field,
            list(dict.fromkeys(t.account_key for t in tasks)),
            [self.company_key_field],
        )
        owners = self.owners() if any(t.owner_email for t in tasks if t.key not in existing) else {}

        by_key: dict[str, RecordResult] = {}
        to_send: dict[str, UpsertRecord] = {}
        company_of: dict[str, str] = {}
        for task in tasks:
            if task.key in by_key or task.key in to_send:
                continue
            company = companies.get(task.account_key)
            if task.key in existing:
                by_key[task.key] = RecordResult(
                    task.key, ok=True, crm_id=existing[task.key][0], created=False
                )
                if company:
                    company_of[task.key] = company[0]
                continue
            if company is None:
                by_key[task.key] = RecordResult(
                    task.key,
                    ok=False,
                    error=(
                        f"COMPANY_NOT_FOUND: no company with {self.company_key_field} = "
                        f"{task.account_key!r}; the task is created once its company is synced"
                    ),
                    retryable=True,
                )
                continue
            fields: dict[str, Any] = {
                "hs_task_subject": task.subject[:TASK_SUBJECT_MAX],
                "hs_task_body": task.body[:TASK_BODY_MAX],
                "hs_timestamp": _iso_ms(task.due_at),
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": task.priority,
                "hs_task_type": "TODO",
            }
            owner_id = owners.get(task.owner_email.lower()) if task.owner_email else None
            if owner_id:
                fields["hubspot_owner_id"] = owner_id
            to_send[task.key] = UpsertRecord(task.key, fields)
            company_of[task.key] = company[0]
        if to_send:
            sent = self.upsert("tasks", task_key_field, list(to_send.values()))
            for key, result in zip(to_send, sent, strict=True):
                by_key[key] = result
        pairs = [
            (key, by_key[key].crm_id, company_of[key])
            for key in by_key
            if by_key[key].ok and by_key[key].crm_id and key in company_of
        ]
        for chunk in chunks(pairs, ASSOCIATION_BATCH):
            body = {"inputs": [{"from": {"id": t}, "to": {"id": c}} for _, t, c in chunk]}
            what = f"associate {len(chunk)} task(s) with their companies"
            answer = self._call(what, self._associations.create_default, "tasks", "companies", body)
            errors = answer.body.get("errors") if isinstance(answer.body, dict) else None
            if not 200 <= answer.status < 300 or errors:
                # not attributable per pair: all of them are asserted again on the next run
                first = errors[0] if errors else answer.body
                reason = self._scrub(_error_text(first, answer.status))
                for key, _, _ in chunk:
                    by_key[key] = replace(
                        by_key[key],
                        ok=False,
                        error=f"task saved but not associated with its company: {reason}",
                        retryable=True,
                    )
        return [replace(by_key[t.key], key=t.key) for t in tasks]

    # --- outcomes: reads for incremental pulls (handoff.outcomes) -------------------------
    HISTORY_BATCH = 50  # HubSpot: batch reads with propertiesWithHistory take at most 50
    SEARCH_PER_SECOND = 4  # under search's own limit of about 5 requests per second

    def _reader(self, name: str) -> Any:
        """A generated API client for the pull's reads, built once through the factory (so
        its requests are paced, counted and retried like every other)."""
        readers: dict[str, Any] = self.__dict__.setdefault("_readers", {})
        if name not in readers:
            crm = self.client.crm
            readers[name] = {
                "search": lambda: crm.objects.search_api,
                "basic": lambda: crm.objects.basic_api,
                "pipelines": lambda: crm.pipelines.pipelines_api,
            }[name]()
        return readers[name]

    def search_page(self, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        """One CRM search request (`filterGroups`, `sorts`, `properties`, `limit`, `after`):
        HubSpot's answer as a dict (`total`, `results`, `paging`)."""
        _check_object(obj)
        what = f"search {obj}"
        window: _Window = self.__dict__.setdefault(
            "_search_window", _Window(self.SEARCH_PER_SECOND, 1.0)
        )

        def paced(*args: Any, **kwargs: Any) -> Any:
            # search has its own, lower limit (about 5 requests/s) that the headers do not show
            while (delay := window.wait(time.monotonic())) > 0:
                time.sleep(delay)
            try:
                return self._reader("search").do_search(*args, **kwargs)
            finally:
                window.stamps.append(time.monotonic())

        answer = self._call(what, paced, obj, body)
        return self._expect(what, answer, 200) or {}

    def archived_page(
        self, obj: str, properties: list[str], after: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """One page of archived (deleted) records of `obj` (`results`, `paging`). Search
        never returns archived records; HubSpot keeps them listable for 90 days."""
        _check_object(obj)
        kwargs: dict[str, Any] = {"limit": limit, "archived": True, "properties": properties}
        if after:
            kwargs["after"] = after
        what = f"list archived {obj}"
        answer = self._call(what, self._reader("basic").get_page, obj, **kwargs)
        return self._expect(what, answer, 200) or {}

    def read_by_ids(
        self,
        obj: str,
        ids: Sequence[str],
        properties: list[str],
        with_history: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Batch read by record id (100 a call, 50 with `propertiesWithHistory`); ids HubSpot
        does not know are left out. A merged-away id answers with the merged record."""
        _check_object(obj)
        size = self.HISTORY_BATCH if with_history else BATCH_SIZE
        out: list[dict[str, Any]] = []
        for chunk in chunks(list(dict.fromkeys(ids)), size):
            what = f"read {len(chunk)} {obj} by id"
            body = {
                "inputs": [{"id": i} for i in chunk],
                "properties": properties,
                "propertiesWithHistory": list(with_history),
            }
            answer = self._call(what, self._objects.read, obj, body, archived=False)
            data = self._expect(what, answer, 200, 207) or {}
            out += [r for r in data.get("results") or [] if isinstance(r, dict)]
        return out

    def associated_ids(
        self, from_obj: str, to_obj: str, ids: Sequence[str]
    ) -> dict[str, list[str]]:
        """Associations v4 batch read: record id -> ids of its associated `to_obj` records
        (100 ids a call; every page of a record's associations is followed)."""
        _check_object(from_obj)
        _check_object(to_obj)
        out: dict[str, list[str]] = {}
        pending = [{"id": str(i)} for i in dict.fromkeys(ids)]
        while pending:
            chunk, pending = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
            what = f"read {to_obj} associations of {len(chunk)} {from_obj}"
            answer = self._call(
                what, self._associations.get_page, from_obj, to_obj, {"inputs": chunk}
            )
            data = self._expect(what, answer, 200, 207) or {}
            for item in data.get("results") or []:
                source = str((item.get("from") or {}).get("id"))
                targets = out.setdefault(source, [])
                targets += [str(t.get("toObjectId")) for t in item.get("to") or []]
                after = ((item.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    pending.append({"id": source, "after": after})
        return out

    def deal_stages(self) -> dict[str, tuple[bool, bool]]:
        """Deal stage id -> (closed, won), from each stage's `metadata.isClosed` and
        `probability` (1.0 won), as HubSpot advises; stage ids are portal-specific."""
        what = "list deal pipelines"
        answer = self._call(what, self._reader("pipelines").get_all, "deals")
        out: dict[str, tuple[bool, bool]] = {}
        for pipeline in (self._expect(what, answer, 200) or {}).get("results") or []:
            for stage in pipeline.get("stages") or []:
                meta = stage.get("metadata") or {}
                closed = str(meta.get("isClosed", "")).lower() == "true"
                try:
                    won = closed and float(meta.get("probability", 0)) >= 1.0
                except (TypeError, ValueError):
                    won = False
                out[str(stage.get("id"))] = (closed, won)
        return out
