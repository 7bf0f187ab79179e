"""The HTTP firmographics provider against a real local Clearbit-shaped server."""

from __future__ import annotations

import itertools
import json
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from handoff.enrich import EnrichSummary, HttpProvider, ProviderAuthError, enrich
from handoff.enrich.cache import read_firmographics
from handoff.warehouse import Warehouse

TOKEN = "sk_test_very-secret-token-4242"


def company(domain: str) -> dict:
    return {
        "name": domain.split(".")[0].title(),
        "domain": domain,
        "category": {"sector": "Information Technology", "industry": "Internet Software & Services"},
        "metrics": {"employees": 250, "annualRevenue": None, "estimatedAnnualRevenue": "$10M-$50M"},
        "geo": {"country": "United States", "countryCode": "US"},
    }  # fmt: skip


class FakeClearbit(ThreadingHTTPServer):
    """Answers by domain: found / 404 / 422 / 429-then-200 / 500-then-200 / always 503."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[float, str, str | None]] = []  # (server time, domain, auth)
        self.lock = threading.Lock()

    def hits(self, domain: str) -> list[float]:
        return [t for t, d, _ in self.requests if d == domain]


class Handler(BaseHTTPRequestHandler):
    server: FakeClearbit

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        domain = parse_qs(url.query).get("domain", [""])[0]
        auth = self.headers.get("Authorization")
        with self.server.lock:
            self.server.requests.append((time.monotonic(), domain, auth))
            seen = len(self.server.hits(domain))
        if url.path != "/v2/companies/find":
            return self.reply(404, {"error": {"type": "not_found"}})
        if auth != f"Bearer {TOKEN}":
            return self.reply(401, {"error": {"type": "auth_required"}})
        if domain.startswith("missing"):
            return self.reply(404, {"error": {"type": "unknown_record"}})
        if domain.startswith("invalid"):
            return self.reply(422, {"error": {"type": "invalid_domain"}})
        if domain.startswith("queued"):
            return self.reply(202, {})
        if domain.startswith("limited") and seen == 1:
            return self.reply(429, {"error": {"type": "rate_limit"}}, {"Retry-After": "1"})
        if domain.startswith("flaky") and seen == 1:
            return self.reply(500, {"error": {"type": "server"}})
        if domain.startswith("down"):
            return self.reply(503, {"error": {"type": "unavailable"}})
        return self.reply(200, company(domain))

    def reply(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[FakeClearbit]:
    srv = FakeClearbit()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def url(srv: FakeClearbit) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/"


def provider(srv: FakeClearbit, token: str = TOKEN, **kw: float) -> HttpProvider:
    opts = {"requests_per_second": 50.0, "timeout": 5.0, "max_retries": 2,
            "backoff_initial": 0.01, "backoff_max": 0.05} | kw  # fmt: skip
    return HttpProvider(url(srv), token, **opts)  # type: ignore[arg-type]


def test_answers_retries_and_unknowns(server: FakeClearbit, tmp_path: Path) -> None:
    p = provider(server)
    domains = ["acme.com", "missing.com", "invalid.com", "queued.com", "limited.com",
               "flaky.com", "down.com"]  # fmt: skip
    with Warehouse(tmp_path / "wh.duckdb") as wh:
        summary = enrich(wh, p, domains, datetime(2026, 11, 1), ttl_days=30)
        assert summary == EnrichSummary(requested=7, cached=0, fetched=3, unknown=3, failed=1)
        stored = read_firmographics(wh).set_index("domain")
    assert sorted(stored.index) == sorted(set(domains) - {"down.com"})  # failed: not stored
    acme = stored.loc["acme.com"]
    assert (acme["name"], acme["employees"], acme["industry"], acme["country"]) == (
        "Acme", 250, "Internet Software & Services", "US")  # fmt: skip
    assert acme["annual_revenue"] == 50e6  # from the estimated range when annualRevenue is null
    assert stored.loc["missing.com", "status"] == "unknown"
    assert stored.loc["missing.com", "detail"] == "HTTP 404"
    assert stored.loc["invalid.com", "detail"] == "HTTP 422"
    assert stored.loc["queued.com", "status"] == "unknown"
    assert stored.loc["limited.com", "status"] == "found"
    assert stored.loc["flaky.com", "status"] == "found"
    # retries happened: 429 and 500 once each then success; 503 tried 1 + max_retries times
    assert len(server.hits("limited.com")) == 2
    assert len(server.hits("flaky.com")) == 2
    assert len(server.hits("down.com")) == 3
    assert len(server.hits("missing.com")) == 1 and len(server.hits("invalid.com")) == 1
    # Retry-After: 1 was honoured (backoff alone would be under 0.1 s)
    first, second = server.hits("limited.com")
    assert second - first >= 0.95
    # one bearer token on every request
    assert {auth for _, _, auth in server.requests} == {f"Bearer {TOKEN}"}


def test_rate_limit_spaces_requests(server: FakeClearbit) -> None:
    p = provider(server, requests_per_second=10.0)
    out = p.lookup([f"co{i}.com" for i in range(6)])
    assert out["status"].tolist() == ["found"] * 6
    times = sorted(t for t, _, _ in server.requests)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 5
    assert min(gaps) >= 0.09  # 10 per second: 0.1 s apart (server clock, small tolerance)


def test_rejected_token_raises_without_the_token(server: FakeClearbit) -> None:
    p = provider(server, token="sk_live_wrong-secret-9999")
    with pytest.raises(ProviderAuthError) as err:
        p.lookup(["acme.com", "globex.com"])
    text = "".join(traceback.format_exception(err.value)) + repr(p)
    assert "401" in str(err.value) and url(server).rstrip("/") in str(err.value)
    assert "sk_live_wrong-secret-9999" not in text
    assert len(server.requests) == 1  # not retried, the run stops at once


def test_connection_refused_is_failed_not_fatal() -> None:
    srv = FakeClearbit()
    dead = url(srv)
    srv.server_close()  # nothing listens on that port now
    p = HttpProvider(dead, TOKEN, requests_per_second=100, timeout=1, max_retries=1,
                     backoff_initial=0.01, backoff_max=0.02)  # fmt: skip
    out = p.lookup(["acme.com"])
    assert out["status"].tolist() == ["failed"]
    assert out["detail"].tolist() == ["ConnectionError"]
