"""The Salesforce destination: custom fields through the Tooling API, upserts through sObject
Collections (200 records a call) or Bulk API 2.0 above a threshold, SOQL reads, and one Task per
trigger episode, all through the real `simple-salesforce` client.

Every HTTP request is counted (`api_calls`) by a response hook on the client's
`requests.Session`; the same hook reads `Sforce-Limit-Info: api-usage=used/max` so the adapter
stops (CrmError) before the org's daily allowance is spent. Transient failures (5xx, dropped
connections, the concurrent-request flavour of REQUEST_LIMIT_EXCEEDED) are retried with
exponential backoff and jitter; a rejected record comes back as a failed RecordResult with
Salesforce's own code and message and never raises.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import requests
import tenacity
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError

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

COLLECTION_SIZE = 200  # sObject Collections take at most 200 records per call
KEYS_PER_QUERY = 200  # keys per `WHERE key IN (...)`
MAX_IN_CHARS = 8_000  # keeps the GET query string well under URL limits
TEXT_MAX = 255  # a Text field's maximum length; longer strings become LongTextArea
LONG_TEXT_DEFAULT = 32_768
LONG_TEXT_MAX = 131_072
SUBJECT_MAX = 255  # Task.Subject
DESCRIPTION_MAX = 32_000  # Task.Description
BULK_NULL = "#N/A"  # Bulk API 2.0: clears a field (an empty cell leaves it unchanged)
PRIORITIES = {"HIGH": "High", "MEDIUM": "Normal", "LOW": "Low"}
# per-record error codes that are worth sending again on a later run
RETRYABLE_RECORD_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"}
)
# 400s that concern the whole request, not one record: splitting the batch cannot help
REQUEST_LEVEL_CODES = frozenset(
    {"INVALID_FIELD", "INVALID_TYPE", "NOT_FOUND", "EXCEEDED_ID_LIMIT", "MALFORMED_QUERY"}
)
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
USAGE_FRESH_SECONDS = 300.0  # an older Sforce-Limit-Info reading no longer blocks a request


class _Transient(Exception):
    """A failure worth retrying: 5xx, 423, a dropped connection, concurrent-request limits."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SalesforceRequestError(CrmError):
    """Salesforce refused a request (4xx); `code` is its errorCode (e.g. JSON_PARSER_ERROR)."""

    def __init__(self, message: str, code: str | None, status: int | None, reason: str) -> None:
        super().__init__(message, retryable=False, status=status)
        self.code = code
        self.reason = reason  # Salesforce's own "CODE: message"


def _first_error(content: Any) -> tuple[str | None, str]:
    """(errorCode, message) from Salesforce's `[{"errorCode", "message"}]` error body."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        code = first.get("errorCode") or first.get("statusCode")
        return (str(code) if code else None), str(first.get("message", ""))
    if isinstance(content, dict):
        code = content.get("errorCode")
        return (str(code) if code else None), str(content.get("message", content))
    return None, str(content)[:500]


def soql_quote(value: str) -> str:
    """A SOQL string literal: backslashes and quotes escaped, control characters spelled out."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f"'{escaped}'"


def _check_name(name: str, what: str, pattern: re.Pattern[str] = _IDENTIFIER) -> str:
    if not isinstance(name, str) or not pattern.match(name):
        raise ValueError(f"invalid Salesforce {what} name: {name!r}")
    return name


def _json_value(value: Any) -> Any:
    """A field value as Salesforce's JSON expects it (datetimes in UTC with a Z, NaN -> null)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_value(value.item())
    return value


def _csv_value(value: Any) -> str:
    """A field value as a Bulk API 2.0 CSV cell (None clears the field)."""
    value = _json_value(value)
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _record_error(errors: Any) -> tuple[str, bool]:
    """(message, retryable) from a RecordResult's `errors` list."""
    parts: list[str] = []
    retryable = False
    for err in errors or []:
        if not isinstance(err, dict):
            parts.append(str(err))
            continue
        code = str(err.get("statusCode") or err.get("errorCode") or "UNKNOWN")
        retryable = retryable or code in RETRYABLE_RECORD_CODES
        text = f"{code}: {err.get('message', '')}"
        fields = err.get("fields") or []
        if fields:
            text += f" (fields: {', '.join(map(str, fields))})"
        parts.append(text)
    return ("; ".join(parts) or "Salesforce rejected the record without a reason"), retryable


class SalesforceDestination:
    """`handoff.crm.base.Destination` for Salesforce over a `simple_salesforce.Salesforce`.

    `bulk_threshold`: upserts of more records than this go through Bulk API 2.0.
    `max_retries`: retries per request on transient failures (so max_retries + 1 attempts).
    `api_reserve`: requests of the daily allowance to leave untouched (default: 2 %, at
    least 5); the adapter raises CrmError instead of eating into it.
    `account_key_field`: the Account external-id field tasks find their account by.
    """

    name = "salesforce"
    # records the sync hands over per upsert (and commits to sync_state at once): enough to
    # reach Bulk API 2.0, which spends far fewer calls of the daily allowance
    batch_records = 10_000

    def __init__(
        self,
        sf: Salesforce,
        bulk_threshold: int = 2000,
        max_retries: int = 5,
        *,
        api_reserve: int | None = None,
        account_key_field: str = "Handoff_Account_Key__c",
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        bulk_poll_seconds: float = 1.0,
        timeout: float = 120.0,
    ) -> None:
        self.sf = sf
        self.bulk_threshold = bulk_threshold
        self.max_retries = max_retries
        self.api_reserve = api_reserve
        self.account_key_field = _check_name(account_key_field, "field")
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.bulk_poll_seconds = bulk_poll_seconds
        self.timeout = timeout
        self.api_calls = 0
        self.api_usage: tuple[int, int] | None = None  # (used, max) from Sforce-Limit-Info
        self._usage_at = 0.0
        self._task_keys_ready: set[str] = set()
        hooks = sf.session.hooks.setdefault("response", [])
        hooks.append(self._on_response)

    # --- construction -------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        instance_url: str,
        session_id: str,
        ca_bundle: str | None = None,
        version: str = "62.0",
        **options: Any,
    ) -> SalesforceDestination:
        """Build the client from an instance URL and a session id (OAuth access token).

        `ca_bundle` pins the CA to verify the server with. The session ignores the
        environment (`trust_env = False`): requests would otherwise let REQUESTS_CA_BUNDLE /
        CURL_CA_BUNDLE override `verify` (and would pick up proxy variables).
        """
        session = requests.Session()
        session.trust_env = False
        if ca_bundle:
            session.verify = ca_bundle
        sf = Salesforce(
            instance_url=instance_url, session_id=session_id, session=session, version=version
        )
        return cls(sf, **options)

    # --- HTTP plumbing ------------------------------------------------------------------

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.api_calls += 1
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = (int(match.group(1)), int(match.group(2)))
            self._usage_at = time.monotonic()

    def _reserve(self, total: int) -> int:
        if self.api_reserve is not None:
            return self.api_reserve
        return max(5, total // 50)

    def _check_allowance(self) -> None:
        if self.api_usage is None or time.monotonic() - self._usage_at > USAGE_FRESH_SECONDS:
            return  # unknown or stale (the rolling 24 hours move on): the next answer tells
        used, total = self.api_usage
        reserve = self._reserve(total)
        if total - used <= reserve:
            raise CrmError(
                f"Salesforce daily API allowance nearly spent ({used}/{total} requests used in "
                f"the last 24 hours; keeping {reserve} in reserve): stopping, try again later",
                retryable=False,
            )

    def _scrub(self, text: str) -> str:
        text = _BEARER.sub(r"\1[redacted]", text)
        secret = getattr(self.sf, "session_id", None)
        if secret:
            text = text.replace(secret, "[redacted]")
        return text

    def _classify(self, what: str, exc: SalesforceError) -> Exception:
        status = int(exc.status) if exc.status else None
        code, message = _first_error(exc.content)
        message = self._scrub(message)
        detail = f"{what}: Salesforce answered {status} {code or ''}: {message}".replace("  ", " ")
        if status == 401:
            return CrmError(
                f"{what}: Salesforce rejected the session ({code or 'unauthorized'}: {message}); "
                "refresh the access token of the Salesforce connection",
                retryable=False,
                status=401,
            )
        if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            if "totalrequests" in message.lower().replace(" ", ""):
                return CrmError(
                    f"{what}: Salesforce daily API allowance spent ({message}); try again when "
                    "the rolling 24 hours free room",
                    retryable=False,
                    status=403,
                )
            return _Transient(detail, status)  # concurrent / long-running request limits
        if status is not None and (status >= 500 or status in (423, 429)):
            return _Transient(detail, status)
        return SalesforceRequestError(detail, code, status, f"{code or status}: {message}")

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One logical request with retries; raises CrmError when it cannot succeed."""

        def attempt() -> T:
            self._check_allowance()
            try:
                return fn(*args, **kwargs)
            except requests.exceptions.SSLError as exc:
                self.api_calls += 1
                if "certificate verify failed" in str(exc).lower():  # not worth retrying
                    raise CrmError(f"{what}: TLS verification failed: {exc}") from None
                # an EOF mid-handshake is a dropped connection
                raise _Transient(f"{what}: connection failed ({type(exc).__name__})") from exc
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                self.api_calls += 1  # no response, so the hook did not count it
                raise _Transient(f"{what}: connection failed ({type(exc).__name__})") from exc
            except requests.exceptions.ChunkedEncodingError as exc:  # cut off mid-body
                raise _Transient(f"{what}: connection failed ({type(exc).__name__})") from exc
            except SalesforceError as exc:
                raise self._classify(what, exc) from None

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s (attempt %d), retrying", exc, state.attempt_number)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=tenacity.wait_exponential_jitter(
                initial=self.backoff_initial, max=self.backoff_max
            ),
            retry=tenacity.retry_if_exception_type(_Transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            raise CrmError(
                f"{exc} (gave up after {self.max_retries + 1} attempts)",
                retryable=True,
                status=exc.status,
            ) from None

    # --- provision ----------------------------------------------------------------------

    def _existing_custom_fields(self, obj: str) -> set[str]:
        soql = (
            "SELECT Id, DeveloperName, NamespacePrefix FROM CustomField "
            f"WHERE TableEnumOrId = {soql_quote(obj)}"
        )
        answer = self._call(
            f"list custom fields of {obj}",
            self.sf.toolingexecute,
            "query/",
            params={"q": soql},
            timeout=self.timeout,
        )
        names: set[str] = set()
        while True:
            for row in answer.get("records", []):
                prefix = f"{row['NamespacePrefix']}__" if row.get("NamespacePrefix") else ""
                names.add(f"{prefix}{row['DeveloperName']}__c".lower())
            next_url = answer.get("nextRecordsUrl")
            if answer.get("done", True) or not next_url:
                return names
            answer = self._call(
                f"list custom fields of {obj}",
                self.sf.query_more,
                next_url,
                identifier_is_url=True,
                timeout=self.timeout,
            )

    @staticmethod
    def field_metadata(spec: FieldSpec, group: str = "") -> dict[str, Any]:
        """Tooling API `CustomField.Metadata` for a FieldSpec."""
        description = spec.description or (f"{group}: {spec.label}" if group else spec.label)
        meta: dict[str, Any] = {"label": spec.label[:40], "description": description[:1000]}
        length = spec.length
        if spec.type == "string" and (length or TEXT_MAX) <= TEXT_MAX:
            meta.update(type="Text", length=length or TEXT_MAX)
        elif spec.type in ("string", "text"):
            size = min(max(length or LONG_TEXT_DEFAULT, 256), LONG_TEXT_MAX)
            meta.update(type="LongTextArea", length=size, visibleLines=5)
        elif spec.type == "number":
            meta.update(type="Number", precision=18, scale=4)
        elif spec.type == "bool":
            meta.update(type="Checkbox", defaultValue="false")
        elif spec.type == "date":
            meta.update(type="Date")
        elif spec.type == "datetime":
            meta.update(type="DateTime")
        elif spec.type == "enumeration":
            if not spec.options:
                raise ValueError(f"enumeration field {spec.name} needs options")
            meta.update(
                type="Picklist",
                valueSet={
                    # unrestricted: a value added to the mapping later still saves
                    "restricted": False,
                    "valueSetDefinition": {
                        "sorted": False,
                        "value": [
                            {"fullName": o, "label": o, "default": False} for o in spec.options
                        ],
                    },
                },
            )
        else:
            raise ValueError(f"unsupported field type {spec.type!r} for {spec.name}")
        if spec.unique:
            if meta["type"] not in ("Text", "Number"):
                raise ValueError(f"the key field {spec.name} must be a short string or a number")
            meta.update(externalId=True, unique=True, caseSensitive=False)
        return meta

    def provision(self, obj: str, group: str, fields: list[FieldSpec]) -> ProvisionResult:
        """Create the missing custom fields on `obj` (Account, Contact, Task, ...)."""
        _check_name(obj, "object")
        for spec in fields:
            if not spec.name.endswith("__c"):
                raise ValueError(f"custom field names end with __c: {spec.name!r}")
            _check_name(spec.name, "field")
        have = self._existing_custom_fields(obj)
        created: list[str] = []
        existing: list[str] = []
        for spec in fields:
            if spec.name.lower() in have:
                existing.append(spec.name)
                continue
            body = {"FullName": f"{obj}.{spec.name}", "Metadata": self.field_metadata(spec, group)}
            try:
                self._call(
                    f"create field {obj}.{spec.name}",
                    self.sf.toolingexecute,
                    "sobjects/CustomField",
                    method="POST",
                    data=body,
                    timeout=self.timeout,
                )
            except SalesforceRequestError as exc:
                if exc.code == "DUPLICATE_DEVELOPER_NAME":  # e.g. created by a retried request
                    existing.append(spec.name)
                    continue
                raise
            created.append(spec.name)
            have.add(spec.name.lower())
        if created:
            log.info("created %d custom field(s) on %s: %s", len(created), obj, ", ".join(created))
        return ProvisionResult(created=created, existing=existing)

    # --- upsert -------------------------------------------------------------------------

    def upsert(self, obj: str, key_field: str, records: list[UpsertRecord]) -> list[RecordResult]:
        """Upsert by external id; one result per record, in input order."""
        _check_name(obj, "object")
        _check_name(key_field, "field")
        if not records:
            return []
        if len(records) > self.bulk_threshold:
            return self._bulk_upsert(obj, key_field, records)
        results: list[RecordResult] = []
        for chunk in chunks(records, COLLECTION_SIZE):
            results.extend(self._collection_upsert(obj, key_field, chunk))
        return results

    @staticmethod
    def _sobject(obj: str, key_field: str, record: UpsertRecord) -> dict[str, Any]:
        body: dict[str, Any] = {"attributes": {"type": obj}}
        body.update({name: _json_value(value) for name, value in record.fields.items()})
        body[key_field] = record.key
        return body

    def _collection_upsert(
        self, obj: str, key_field: str, chunk: Sequence[UpsertRecord]
    ) -> list[RecordResult]:
        payload = {
            "allOrNone": False,
            "records": [self._sobject(obj, key_field, r) for r in chunk],
        }
        try:
            answer = self._call(
                f"upsert {len(chunk)} {obj} record(s)",
                self.sf.restful,
                f"composite/sobjects/{obj}/{key_field}",
                method="PATCH",
                json=payload,
                timeout=self.timeout,
            )
        except SalesforceRequestError as exc:
            if exc.status != 400:
                raise
            if len(chunk) > 1 and exc.code not in REQUEST_LEVEL_CODES:
                # one bad record (e.g. JSON_PARSER_ERROR) fails the whole call: isolate it
                mid = len(chunk) // 2
                return self._collection_upsert(
                    obj, key_field, chunk[:mid]
                ) + self._collection_upsert(obj, key_field, chunk[mid:])
            return [RecordResult(r.key, ok=False, error=exc.reason) for r in chunk]
        answers = answer if isinstance(answer, list) else []
        results: list[RecordResult] = []
        for i, record in enumerate(chunk):
            res = answers[i] if i < len(answers) and isinstance(answers[i], dict) else None
            if res is None:
                results.append(
                    RecordResult(
                        record.key,
                        ok=False,
                        error="no result returned for this record",
                        retryable=True,
                    )
                )
            elif res.get("success"):
                results.append(
                    RecordResult(
                        record.key, ok=True, crm_id=res.get("id"), created=bool(res.get("created"))
                    )
                )
            else:
                message, retryable = _record_error(res.get("errors"))
                results.append(
                    RecordResult(record.key, ok=False, error=message, retryable=retryable)
                )
        return results

    def _bulk_upsert(
        self, obj: str, key_field: str, records: list[UpsertRecord]
    ) -> list[RecordResult]:
        columns: list[str] = [key_field]
        for record in records:
            for name in record.fields:
                if name not in columns:
                    columns.append(name)
        rows = []
        for record in records:
            row = {name: "" for name in columns}  # an empty cell leaves a field unchanged
            row.update({name: _csv_value(value) for name, value in record.fields.items()})
            row[key_field] = record.key
            rows.append(row)
        handler = getattr(self.sf.bulk2, obj)
        try:
            jobs = self._call(
                f"Bulk API 2.0 upsert of {len(rows)} {obj} record(s)",
                handler.upsert,
                records=rows,
                external_id_field=key_field,
                wait=self.bulk_poll_seconds,
            )
        except SalesforceOperationError as exc:  # the job failed or was aborted as a whole
            message = f"Bulk API 2.0 job did not complete: {self._scrub(str(exc))[:500]}"
            return [RecordResult(r.key, ok=False, error=message, retryable=True) for r in records]
        outcome: dict[str, deque[RecordResult]] = defaultdict(deque)
        for job in jobs:
            job_id = job["job_id"]
            for kind, getter in (
                ("successful", handler.get_successful_records),
                ("failed", handler.get_failed_records),
                ("unprocessed", handler.get_unprocessed_records),
            ):
                text = self._call(f"read {kind} results of Bulk job {job_id}", getter, job_id)
                for row in csv.DictReader(io.StringIO(text)):
                    key = (row.get(key_field) or "").strip()
                    outcome[key.lower()].append(self._bulk_result(kind, key, row, job_id))
        results: list[RecordResult] = []
        for record in records:
            found = outcome.get(record.key.strip().lower())
            if found:
                result = found.popleft()
                results.append(replace(result, key=record.key))
            else:
                results.append(
                    RecordResult(
                        record.key,
                        ok=False,
                        retryable=True,
                        error="no result returned for this record by the Bulk API 2.0 job",
                    )
                )
        return results

    @staticmethod
    def _bulk_result(kind: str, key: str, row: dict[str, str], job_id: str) -> RecordResult:
        if kind == "successful":
            created = (row.get("sf__Created") or "").lower() == "true"
            return RecordResult(key, ok=True, crm_id=row.get("sf__Id") or None, created=created)
        if kind == "failed":
            error = row.get("sf__Error") or "failed without a reason"
            code = error.split(":", 1)[0].strip()
            return RecordResult(
                key, ok=False, error=error, retryable=code in RETRYABLE_RECORD_CODES
            )
        return RecordResult(
            key, ok=False, retryable=True, error=f"not processed by Bulk API 2.0 job {job_id}"
        )

    # --- read ---------------------------------------------------------------------------

    def _query(self, soql: str, what: str) -> list[dict[str, Any]]:
        answer = self._call(what, self.sf.query_all, soql, timeout=self.timeout)
        rows = answer.get("records", []) if isinstance(answer, dict) else []
        for row in rows:
            row.pop("attributes", None)
        return rows

    def _rows_by_key(
        self, obj: str, key_field: str, keys: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Rows whose key_field is one of `keys`, by lower-cased key (external ids match
        case-insensitively)."""
        _check_name(obj, "object")
        _check_name(key_field, "field")
        select = [key_field]
        for name in fields:
            _check_name(name, "field", _FIELD_PATH)
            if name.lower() not in {s.lower() for s in select}:
                select.append(name)
        unique = list(dict.fromkeys(k for k in keys if k))
        out: dict[str, dict[str, Any]] = {}
        batch: list[str] = []
        size = 0

        def flush() -> None:
            if not batch:
                return
            soql = (
                f"SELECT {', '.join(select)} FROM {obj} WHERE {key_field} IN ({', '.join(batch)})"
            )
            for row in self._query(soql, f"read {len(batch)} {obj} record(s)"):
                value = row.get(key_field)
                if value is not None:
                    out[str(value).lower()] = row
            batch.clear()

        for key in unique:
            literal = soql_quote(str(key))
            if len(batch) >= KEYS_PER_QUERY or size + len(literal) > MAX_IN_CHARS:
                flush()
                size = 0
            batch.append(literal)
            size += len(literal) + 2
        flush()
        return out

    def read(
        self, obj: str, key_field: str, keys: list[str], fields: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Current values of `fields` for the records with these keys (missing keys absent)."""
        rows = self._rows_by_key(obj, key_field, keys, fields)
        out: dict[str, dict[str, Any]] = {}
        for key in keys:
            row = rows.get(str(key).lower())
            if row is not None:
                out[key] = {name: row.get(name) for name in fields}
        return out

    def owners(self) -> dict[str, str]:
        """Lower-cased email -> User Id, for active users."""
        rows = self._query(
            "SELECT Id, Email, IsActive FROM User WHERE IsActive = TRUE", "list users"
        )
        return {
            str(row["Email"]).lower(): row["Id"]
            for row in rows
            if row.get("Email") and row.get("IsActive")
        }

    # --- tasks --------------------------------------------------------------------------

    def _ensure_task_key(self, task_key_field: str) -> None:
        if task_key_field in self._task_keys_ready:
            return
        spec = FieldSpec(
            name=task_key_field,
            label="Handoff episode key",
            type="string",
            description="Handoff: the trigger episode this task was created for (one task each)",
            unique=True,
            length=TEXT_MAX,
        )
        self.provision("Task", "Handoff", [spec])
        self._task_keys_ready.add(task_key_field)

    def create_tasks(self, tasks: list[TaskSpec], task_key_field: str) -> list[RecordResult]:
        """One Task per spec, found or created by `task_key_field` = TaskSpec.key.

        A task that already exists is left as it is (a rep may have completed or reassigned
        it) and reported with created=False. WhatId is the Account whose
        `account_key_field` equals TaskSpec.account_key; OwnerId the active user with the
        owner's email (omitted when unknown, so the task stays with the integration user).
        """
        _check_name(task_key_field, "field")
        if not tasks:
            return []
        self._ensure_task_key(task_key_field)
        existing = self._rows_by_key("Task", task_key_field, [t.key for t in tasks], ["Id"])
        pending = [t for t in tasks if t.key.lower() not in existing]
        accounts = self._rows_by_key(
            "Account", self.account_key_field, [t.account_key for t in pending], ["Id"]
        )
        owners = self.owners() if any(t.owner_email for t in pending) else {}

        by_key: dict[str, RecordResult] = {}
        to_send: dict[str, UpsertRecord] = {}
        for task in tasks:
            lower = task.key.lower()
            if lower in by_key or lower in to_send:
                continue
            if lower in existing:
                by_key[lower] = RecordResult(
                    task.key, ok=True, crm_id=existing[lower].get("Id"), created=False
                )
                continue
            account = accounts.get(task.account_key.lower())
            if account is None:
                by_key[lower] = RecordResult(
                    task.key,
                    ok=False,
                    error=(
                        f"ACCOUNT_NOT_FOUND: no Account with {self.account_key_field} = "
                        f"{task.account_key!r}; the task is created once its account is synced"
                    ),
                    retryable=True,
                )
                continue
            fields: dict[str, Any] = {
                "Subject": task.subject[:SUBJECT_MAX],
                "Description": task.body[:DESCRIPTION_MAX],
                "ActivityDate": task.due_at.date().isoformat(),
                "Status": "Not Started",
                "Priority": PRIORITIES.get(task.priority, "Normal"),
                "WhatId": account["Id"],
            }
            owner_id = owners.get(task.owner_email.lower()) if task.owner_email else None
            if owner_id:
                fields["OwnerId"] = owner_id
            to_send[lower] = UpsertRecord(task.key, fields)
        if to_send:
            for sent, result in zip(
                to_send, self.upsert("Task", task_key_field, list(to_send.values())), strict=True
            ):
                by_key[sent] = result
        out: list[RecordResult] = []
        for task in tasks:
            out.append(replace(by_key[task.key.lower()], key=task.key))
        return out

    # --- outcomes: reads for incremental pulls (handoff.outcomes) -------------------------

    def field_names(self, obj: str) -> set[str]:
        """The API names of `obj`'s fields (one describe call)."""
        _check_name(obj, "object")
        answer = self._call(
            f"describe {obj}", self.sf.restful, f"sobjects/{obj}/describe", timeout=self.timeout
        )
        return {str(f.get("name")) for f in (answer or {}).get("fields") or []}

    def query_pages(
        self, soql: str, *, include_deleted: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """A SOQL query page by page (query / queryAll, then nextRecordsUrl until done); each
        page is retried on its own. `include_deleted` runs queryAll, which also returns
        deleted records (IsDeleted = TRUE, MasterRecordId set on merge losers)."""
        what = "queryAll" if include_deleted else "query"
        answer = self._call(
            f"{what} {soql[:80]}",
            self.sf.query,
            soql,
            include_deleted=include_deleted,
            timeout=self.timeout,
        )
        while True:
            rows = answer.get("records", []) if isinstance(answer, dict) else []
            for row in rows:
                row.pop("attributes", None)
            yield rows
            next_url = answer.get("nextRecordsUrl") if isinstance(answer, dict) else None
            if answer.get("done", True) or not next_url:
                return
            answer = self._call(
                f"{what} more {next_url}",
                self.sf.query_more,
                next_url,
                identifier_is_url=True,
                include_deleted=include_deleted,
                timeout=self.timeout,
            )
