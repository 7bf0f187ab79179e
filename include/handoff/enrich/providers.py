"""Firmographics providers behind one interface: a CSV file, a warehouse table, an HTTP API.

`provider.lookup(domains)` returns one row per requested domain with the columns of
`LOOKUP_COLUMNS`. `status` is 'found', 'unknown' (the provider has no company for the
domain: a missing CSV row, HTTP 404/422/202) or 'failed' (a transient error that outlasted
the retries; the cache keeps its previous answer and asks again next run). Only rejected
credentials (HTTP 401/403) stop the run, with a message that never contains the token.
"""

from __future__ import annotations

import csv
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd
import requests
import tenacity

from handoff.enrich.domains import normalize_domain
from handoff.enrich.errors import EnrichmentError, FirmographicsFileError, ProviderAuthError
from handoff.errors import WarehouseError
from handoff.warehouse import Warehouse, ident, literal

log = logging.getLogger(__name__)

# what a provider answers per domain; the cache adds `source` and `fetched_at`
VALUE_COLUMNS = ["name", "employees", "industry", "country", "annual_revenue"]
LOOKUP_COLUMNS = ["domain", *VALUE_COLUMNS, "status", "detail"]
STATUSES = ("found", "unknown", "failed")


@runtime_checkable
class FirmographicsProvider(Protocol):
    name: str

    def lookup(self, domains: list[str]) -> pd.DataFrame:
        """One row per requested domain, columns LOOKUP_COLUMNS."""
        ...


def lookup_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A lookup result with the standard columns and types (employees as nullable Int64)."""
    df = pd.DataFrame(rows, columns=LOOKUP_COLUMNS).astype(object)
    df["employees"] = pd.to_numeric(df["employees"], errors="coerce").round().astype("Int64")
    df["annual_revenue"] = pd.to_numeric(df["annual_revenue"], errors="coerce").astype("float64")
    for col in ("domain", "name", "industry", "country", "status", "detail"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def _unknown(domain: str, detail: str) -> dict[str, Any]:
    return {"domain": domain, "status": "unknown", "detail": detail}


# -- CSV -----------------------------------------------------------------------------------


class CsvProvider:
    """Firmographics from a CSV file with a `domain` column (the default, and the sample's).

    Optional columns: name, employees, industry, country, annual_revenue; others are
    ignored. Domains are normalised (`www.Acme.com` -> `acme.com`). A malformed file (a
    missing `domain` column, a ragged row, a non-numeric size, a bad or duplicate domain)
    raises FirmographicsFileError naming the file, line and column. Domains not in the file
    are answered 'unknown'.
    """

    name = "csv"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._rows: dict[str, dict[str, Any]] | None = None

    def lookup(self, domains: list[str]) -> pd.DataFrame:
        rows = self._load()
        out = []
        for domain in domains:
            hit = rows.get(domain)
            out.append({**hit, "domain": domain} if hit else _unknown(domain, "not in file"))
        return lookup_frame(out)

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._rows is None:
            self._rows = self._read()
        return self._rows

    def _read(self) -> dict[str, dict[str, Any]]:
        path = str(self.path)
        try:
            fh = self.path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise FirmographicsFileError(path, None, None, f"cannot read: {exc.strerror}") from exc
        rows: dict[str, dict[str, Any]] = {}
        first_line: dict[str, int] = {}
        with fh:
            reader = csv.reader(fh, strict=True)
            try:
                header = [h.strip().lower() for h in next(reader)]
            except StopIteration:
                raise FirmographicsFileError(path, 1, None, "the file is empty") from None
            except csv.Error as exc:
                raise FirmographicsFileError(path, 1, None, f"not valid CSV: {exc}") from None
            if "domain" not in header:
                raise FirmographicsFileError(
                    path, 1, "domain", f"missing required column (header: {', '.join(header)})"
                )
            dupes = {h for h in header if header.count(h) > 1}
            if dupes:
                raise FirmographicsFileError(path, 1, sorted(dupes)[0], "column appears twice")
            while True:
                try:
                    record = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise FirmographicsFileError(
                        path, reader.line_num, None, f"not valid CSV: {exc}"
                    ) from None
                line = reader.line_num
                if not any(cell.strip() for cell in record):
                    continue
                if len(record) != len(header):
                    raise FirmographicsFileError(
                        path, line, None, f"expected {len(header)} fields, found {len(record)}"
                    )
                row = self._parse(dict(zip(header, record, strict=True)), path, line)
                domain = row["domain"]
                if domain in rows:
                    raise FirmographicsFileError(
                        path, line, "domain", f"'{domain}' already on line {first_line[domain]}"
                    )
                rows[domain], first_line[domain] = row, line
        log.info("read %d firmographics rows from %s", len(rows), path)
        return rows

    @staticmethod
    def _parse(raw: dict[str, str], path: str, line: int) -> dict[str, Any]:
        domain = normalize_domain(raw["domain"])
        if domain is None:
            raise FirmographicsFileError(
                path, line, "domain", f"'{raw['domain']}' is not a company domain"
            )
        row: dict[str, Any] = {"domain": domain, "status": "found", "detail": None}
        for col in ("name", "industry", "country"):
            row[col] = (raw.get(col) or "").strip() or None
        for col, kind in (("employees", int), ("annual_revenue", float)):
            text = (raw.get(col) or "").strip().replace(",", "").replace("_", "")
            if not text:
                row[col] = None
                continue
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if value != value or value < 0 or (kind is int and value != int(value)):
                raise FirmographicsFileError(
                    path, line, col, f"'{raw[col]}' is not a non-negative {kind.__name__}"
                )
            row[col] = kind(value)
        return row


# -- warehouse table -----------------------------------------------------------------------


class TableProvider:
    """Firmographics from a warehouse table keyed by `domain` (e.g. a vendor's data share).

    Reads the columns of VALUE_COLUMNS the table has; the others are left empty. Domains
    missing from the table are answered 'unknown'. Matching ignores case and whitespace;
    of rows sharing a domain, the first by name, then head count, is taken.
    """

    name = "table"

    def __init__(self, warehouse: Warehouse, table: str) -> None:
        self.warehouse = warehouse
        self.table = ident(table)

    def lookup(self, domains: list[str]) -> pd.DataFrame:
        if not domains:
            return lookup_frame([])
        wh = self.warehouse
        if not wh.has_table(self.table):
            raise EnrichmentError(
                f"firmographics table '{self.table}' does not exist in the warehouse"
            )
        have = set(wh.columns(self.table))
        if "domain" not in have:
            raise EnrichmentError(f"firmographics table '{self.table}' has no 'domain' column")
        cols = ", ".join(f"{c}" if c in have else f"NULL AS {c}" for c in VALUE_COLUMNS)
        keys = ", ".join(literal(d) for d in domains)
        try:
            found = wh.query(
                f"SELECT lower(trim(domain)) AS domain, {cols} FROM {self.table} "
                f"WHERE lower(trim(domain)) IN ({keys}) ORDER BY 1, 2, 3"
            )
        except WarehouseError as exc:
            raise EnrichmentError(f"cannot read firmographics table '{self.table}': {exc}") from exc
        found = found.drop_duplicates("domain").set_index("domain")
        out = []
        for domain in domains:
            if domain in found.index:
                row = found.loc[domain].to_dict()
                out.append({**row, "domain": domain, "status": "found", "detail": None})
            else:
                out.append(_unknown(domain, f"not in table {self.table}"))
        return lookup_frame(out)


# -- HTTP (Clearbit Company API shape) ------------------------------------------------------


class _Retryable(Exception):
    """A response worth retrying (429, 5xx); carries the server's Retry-After in seconds."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class RateLimiter:
    """At most `per_second` calls per second, spaced evenly (thread-safe)."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.interval = 1.0 / per_second
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


class HttpProvider:
    """A Clearbit-style company API: `GET {base_url}/v2/companies/find?domain=acme.com`.

    Sends `Authorization: Bearer <token>` over one `requests.Session`, at most
    `requests_per_second` requests (retries included). 429 (honouring Retry-After), 5xx and
    connection errors or timeouts are retried with exponential backoff and jitter, up to
    `max_retries` times; what still fails is answered 'failed'. 404 and 422 (no such
    company, a domain the API will not take) and 202 (Clearbit queued the lookup) are
    answered 'unknown'. 401/403 raise ProviderAuthError. Reads `name`, `domain`,
    `metrics.employees`, `category.industry`, `geo.countryCode` (or `geo.country`) and
    `metrics.annualRevenue` (or, when that is empty, the upper bound of
    `metrics.estimatedAnnualRevenue`).
    """

    name = "http"
    PATH = "/v2/companies/find"

    def __init__(
        self,
        base_url: str,
        token: str,
        requests_per_second: float = 5.0,
        timeout: float = 10.0,
        max_retries: int = 4,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
    ) -> None:
        if not base_url:
            raise EnrichmentError("the HTTP firmographics provider needs a base URL")
        if not token:
            raise EnrichmentError("the HTTP firmographics provider needs an API token")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.limiter = RateLimiter(requests_per_second)
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )

    def __repr__(self) -> str:  # never the token
        return f"HttpProvider({self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    def lookup(self, domains: list[str]) -> pd.DataFrame:
        return lookup_frame([self._find(d) for d in domains])

    # -- one domain ------------------------------------------------------------------------
    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff = min(self.backoff_max, self.backoff_initial * 2 ** (state.attempt_number - 1))
        backoff += random.uniform(0, backoff / 2)  # jitter
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return max(min(exc.retry_after, self.max_retry_after), 0.0)
        return backoff

    def _find(self, domain: str) -> dict[str, Any]:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(
                (_Retryable, requests.ConnectionError, requests.Timeout)
            ),
            reraise=True,
        )
        try:
            resp = retrying(self._get, domain)
        except _Retryable as exc:
            return {"domain": domain, "status": "failed", "detail": f"HTTP {exc.status}"}
        except (requests.ConnectionError, requests.Timeout) as exc:
            return {"domain": domain, "status": "failed", "detail": type(exc).__name__}
        return self._parse(domain, resp)

    def _get(self, domain: str) -> requests.Response:
        self.limiter.wait()
        resp = self.session.get(
            self.base_url + self.PATH, params={"domain": domain}, timeout=self.timeout
        )
        if resp.status_code == 429 or resp.status_code >= 500:
            retry_after = _retry_after_seconds(resp.headers.get("Retry-After"))
            log.info("firmographics %s: HTTP %d, retrying", domain, resp.status_code)
            resp.close()
            raise _Retryable(resp.status_code, retry_after)
        return resp

    def _parse(self, domain: str, resp: requests.Response) -> dict[str, Any]:
        status = resp.status_code
        if status in (401, 403):
            raise ProviderAuthError(
                f"the firmographics API at {self.base_url} refused the credentials "
                f"(HTTP {status}); check the token in the connection or HANDOFF_ENRICH_TOKEN"
            )
        if status in (404, 422):
            return _unknown(domain, f"HTTP {status}")
        if status == 202:
            return _unknown(domain, "HTTP 202: lookup queued by the provider")
        if status != 200:
            return {"domain": domain, "status": "failed", "detail": f"HTTP {status}"}
        try:
            body = resp.json()
        except ValueError:
            return {"domain": domain, "status": "failed", "detail": "response is not JSON"}
        if not isinstance(body, dict):
            return {"domain": domain, "status": "failed", "detail": "response is not an object"}
        metrics = _obj(body.get("metrics"))
        geo = _obj(body.get("geo"))
        revenue = metrics.get("annualRevenue")
        if revenue is None:
            revenue = _range_top(metrics.get("estimatedAnnualRevenue"))
        return {
            "domain": domain,
            "name": body.get("name"),
            "employees": _number(metrics.get("employees")),
            "industry": _obj(body.get("category")).get("industry"),
            "country": geo.get("countryCode") or geo.get("country"),
            "annual_revenue": _number(revenue),
            "status": "found",
            "detail": None,
        }


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def _range_top(value: object) -> float | None:
    """'$10M-$50M' -> 50e6, '$1B+' -> 1e9; None if it does not read as a range."""
    if not isinstance(value, str) or not value.strip():
        return None
    top = value.replace("+", "").split("-")[-1].strip().lstrip("$").lower()
    scale = _SCALE.get(top[-1:], 1.0)
    try:
        return float(top.rstrip("kmbt")) * scale
    except ValueError:
        return None
