"""The firmographics cache on DuckDB and PostgreSQL: hits, misses, TTL, unknowns, reruns."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from handoff.config import load_source
from handoff.enrich import (
    CsvProvider,
    EnrichSummary,
    TableProvider,
    account_fit,
    domains_to_enrich,
    enrich,
    load_icp,
    read_firmographics,
)
from handoff.enrich.errors import EnrichmentError
from handoff.enrich.providers import lookup_frame
from handoff.sample.firmographics import write_firmographics_csv
from handoff.warehouse import Warehouse

AS_OF = datetime(2026, 11, 1)


class Recording:
    """A provider over a dict that records every batch it is asked for."""

    name = "recording"

    def __init__(self, known: dict[str, dict], failing: set[str] = frozenset()) -> None:
        self.known, self.failing = known, failing
        self.calls: list[list[str]] = []

    def lookup(self, domains: list[str]) -> pd.DataFrame:
        self.calls.append(list(domains))
        rows = []
        for d in domains:
            if d in self.failing:
                rows.append({"domain": d, "status": "failed", "detail": "HTTP 503"})
            elif d in self.known:
                rows.append({"domain": d, **self.known[d], "status": "found", "detail": None})
            else:
                rows.append({"domain": d, "status": "unknown", "detail": "HTTP 404"})
        return lookup_frame(rows)

    @property
    def asked(self) -> list[str]:
        return [d for batch in self.calls for d in batch]


KNOWN = {
    "acme.com": {"name": "Acme", "employees": 120, "industry": "SaaS", "country": "US",
                 "annual_revenue": 2.5e7},
    "globex.co.uk": {"name": "Globex", "employees": 9000, "industry": "Fintech",
                     "country": "GB", "annual_revenue": None},
    "initech.io": {"name": "Initech", "employees": 30, "industry": "Retail", "country": None,
                   "annual_revenue": 1.0e6},
}  # fmt: skip


@pytest.fixture(params=["duckdb", "postgres"])
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if request.param == "duckdb":
        url = str(tmp_path / "wh.duckdb")
    else:
        url = request.getfixturevalue("pg_url")
    with Warehouse(url) as warehouse:
        yield warehouse


def rows(wh: Warehouse) -> pd.DataFrame:
    return read_firmographics(wh).set_index("domain")


def test_miss_then_hit_and_unknown_recorded(wh: Warehouse) -> None:
    provider = Recording(KNOWN)
    domains = ["acme.com", "globex.co.uk", "initech.io", "nobody.com", "ACME.com ", ""]
    first = enrich(wh, provider, domains, AS_OF, ttl_days=30, batch_size=2)
    assert first == EnrichSummary(requested=4, cached=0, fetched=3, unknown=1, failed=0)
    assert [len(b) for b in provider.calls] == [2, 2]  # batched
    stored = rows(wh)
    assert sorted(stored.index) == ["acme.com", "globex.co.uk", "initech.io", "nobody.com"]
    assert stored.loc["acme.com", "employees"] == 120
    assert stored.loc["acme.com", "annual_revenue"] == 2.5e7
    assert pd.isna(stored.loc["globex.co.uk", "annual_revenue"])
    assert stored.loc["nobody.com", "status"] == "unknown"
    assert stored.loc["nobody.com", "detail"] == "HTTP 404"
    assert set(stored["source"]) == {"recording"}
    assert set(pd.to_datetime(stored["fetched_at"])) == {pd.Timestamp(AS_OF)}

    provider.calls.clear()
    again = enrich(wh, provider, domains, AS_OF + timedelta(days=5), ttl_days=30)
    assert again == EnrichSummary(requested=4, cached=4, fetched=0, unknown=0, failed=0)
    assert provider.calls == []  # nothing asked: unknowns are remembered too


def test_rerun_same_as_of_writes_no_duplicates(wh: Warehouse) -> None:
    provider = Recording(KNOWN)
    domains = [*KNOWN, "nobody.com"]
    for _ in range(2):
        enrich(wh, provider, domains, AS_OF, ttl_days=0)  # ttl 0: fresh only at the same as_of
    before = rows(wh)
    enrich(wh, provider, domains, AS_OF + timedelta(days=1), ttl_days=0)  # all stale: re-ask
    n = wh.scalar("SELECT count(*) FROM firmographics")
    distinct = wh.scalar("SELECT count(DISTINCT domain) FROM firmographics")
    assert n == distinct == 4
    assert len(provider.asked) == 4 + 4  # first run and the stale run; the rerun asked none
    assert before.loc["acme.com", "name"] == rows(wh).loc["acme.com", "name"]


def test_ttl_expiry_asks_only_stale_domains(wh: Warehouse) -> None:
    provider = Recording(KNOWN)
    enrich(wh, provider, ["acme.com", "nobody.com"], AS_OF, ttl_days=30)
    enrich(wh, provider, ["globex.co.uk"], AS_OF + timedelta(days=20), ttl_days=30)
    provider.calls.clear()
    provider.known = {**KNOWN, "nobody.com": {"name": "Nobody", "employees": 60,
                                               "industry": "SaaS", "country": "DE",
                                               "annual_revenue": None}}  # fmt: skip
    at = AS_OF + timedelta(days=30, seconds=1)
    summary = enrich(wh, provider, ["acme.com", "nobody.com", "globex.co.uk"], at, ttl_days=30)
    assert sorted(provider.asked) == ["acme.com", "nobody.com"]  # globex is 10 days old
    assert summary == EnrichSummary(requested=3, cached=1, fetched=2, unknown=0, failed=0)
    stored = rows(wh)
    assert stored.loc["nobody.com", "status"] == "found"  # the unknown was asked again
    assert pd.Timestamp(stored.loc["acme.com", "fetched_at"]) == pd.Timestamp(at)
    # exactly at the TTL boundary an answer is still fresh
    provider.calls.clear()
    enrich(wh, provider, ["globex.co.uk"], AS_OF + timedelta(days=50), ttl_days=30)
    assert provider.calls == []


def test_failed_lookups_keep_previous_answer_and_are_retried(wh: Warehouse) -> None:
    enrich(wh, Recording(KNOWN), ["acme.com"], AS_OF, ttl_days=1)
    flaky = Recording(KNOWN, failing={"acme.com", "globex.co.uk"})
    summary = enrich(wh, flaky, ["acme.com", "globex.co.uk"], AS_OF + timedelta(days=3), 1)
    assert summary == EnrichSummary(requested=2, cached=0, fetched=0, unknown=0, failed=2)
    stored = rows(wh)
    assert list(stored.index) == ["acme.com"]  # globex not stored; acme's old answer kept
    assert pd.Timestamp(stored.loc["acme.com", "fetched_at"]) == pd.Timestamp(AS_OF)
    healed = Recording(KNOWN)
    summary = enrich(wh, healed, ["acme.com", "globex.co.uk"], AS_OF + timedelta(days=3), 1)
    assert summary.fetched == 2 and sorted(healed.asked) == ["acme.com", "globex.co.uk"]


def test_provider_leaving_out_a_domain_records_unknown(wh: Warehouse) -> None:
    class Forgetful(Recording):
        def lookup(self, domains: list[str]) -> pd.DataFrame:
            return super().lookup(domains).iloc[1:]

    summary = enrich(wh, Forgetful(KNOWN), ["acme.com", "globex.co.uk"], AS_OF, 30)
    assert (summary.fetched, summary.unknown) == (1, 1)
    assert rows(wh).loc["acme.com", "detail"] == "no answer from provider"


def test_table_provider(wh: Warehouse) -> None:
    vendor = pd.DataFrame(
        {
            "domain": ["Acme.com", "globex.co.uk", "acme.com"],  # case and a duplicate
            "name": ["Acme", "Globex", "Acme again"],
            "employees": [120, 9000, 1],
            "industry": ["SaaS", "Fintech", "x"],
        }
    )  # no country or revenue columns
    wh.load_df("vendor_firmographics", vendor)
    provider = TableProvider(wh, "vendor_firmographics")
    out = provider.lookup(["acme.com", "globex.co.uk", "nobody.com"])
    assert out["status"].tolist() == ["found", "found", "unknown"]
    assert out["employees"].tolist()[:2] == [120, 9000]  # of the duplicates, first by name
    assert out["country"].isna().all()
    summary = enrich(wh, provider, ["acme.com", "globex.co.uk", "nobody.com"], AS_OF, 30)
    assert (summary.fetched, summary.unknown) == (2, 1)
    assert rows(wh).loc["globex.co.uk", "source"] == "table"
    with pytest.raises(EnrichmentError, match="does not exist"):
        TableProvider(wh, "no_such_table").lookup(["acme.com"])


def test_sample_csv_enrichment_and_fit(sample_copy: Path) -> None:
    out_csv = sample_copy.parent / "firmographics.csv"
    written = write_firmographics_csv(sample_copy, out_csv)
    again = out_csv.read_text()
    assert write_firmographics_csv(sample_copy, out_csv) == written and out_csv.read_text() == again
    with Warehouse(sample_copy) as wh:
        accounts = int(wh.scalar("SELECT count(*) FROM accounts"))
        assert 0.88 * accounts <= written < accounts  # ~5% left out
        domains = domains_to_enrich(wh, load_source())
        assert len(domains) == accounts  # user emails add no new company; no free mail
        assert not any(d.endswith("gmail.com") for d in domains)
        summary = enrich(wh, CsvProvider(out_csv), domains, AS_OF, ttl_days=30)
        assert summary.fetched == written and summary.unknown == accounts - written
        fitted = account_fit(wh, load_icp(), domains)
        assert len(fitted) == accounts
        tiers = fitted["fit_tier"].value_counts()
        assert tiers["unknown"] == accounts - written
        assert {"A", "B", "C"} <= set(tiers.index)
        joined = fitted.merge(wh.query("SELECT domain, employees AS e FROM accounts"), on="domain")
        found = joined[joined["status"] == "found"]
        assert (found["employees"] == found["e"]).all()


def test_domains_to_enrich_and_fit_of_never_enriched(wh: Warehouse) -> None:
    wh.load_df(
        "accounts",
        pd.DataFrame({"domain": ["acme.com", "WWW.Globex.co.uk", "gmail.com", "10.0.0.1"]}),
    )
    wh.load_df(
        "users",
        pd.DataFrame(
            {
                "user_id": ["u1", "u2", "u3", "u4", "u5"],
                "email": ["a@acme.com", "b@eu.initech.io", "c@GMAIL.com", "d@outlook.com", None],
            }
        ),
    )
    domains = domains_to_enrich(wh, load_source())
    assert domains == ["acme.com", "globex.co.uk", "initech.io"]
    enrich(wh, Recording(KNOWN), ["acme.com"], AS_OF, ttl_days=30)
    fitted = account_fit(wh, load_icp(), domains).set_index("domain")
    assert fitted["fit_tier"].to_dict() == {
        "acme.com": "A",
        "globex.co.uk": "unknown",  # never enriched
        "initech.io": "unknown",
    }
    assert fitted.loc["acme.com", "size_band"] == "mid_market"
