"""The `firmographics` table: the provider's last answer per domain, asked again after a TTL.

`enrich(wh, provider, domains, as_of, ttl_days)` looks up only the domains that have no
answer yet or whose answer is older than `ttl_days` at `as_of`, in batches, and writes each
batch as it arrives (delete those domains, insert, one transaction): a rerun writes no
duplicates and an interrupted run keeps the batches it finished. 'unknown' answers are
stored too, so a domain the provider does not know is not asked again before the TTL;
'failed' lookups are not stored (the previous answer, if any, stays) and count as failed.
`fetched_at` is the `as_of` of the run that asked, so reruns are deterministic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from handoff.enrich.providers import LOOKUP_COLUMNS, FirmographicsProvider, lookup_frame
from handoff.warehouse import Warehouse, naive_utc

log = logging.getLogger(__name__)

FIRMOGRAPHICS_TABLE = "firmographics"
_STAGE = "firmographics_stage"
FIRMOGRAPHICS_DDL = (
    "domain VARCHAR PRIMARY KEY, name VARCHAR, employees BIGINT, industry VARCHAR, "
    "country VARCHAR, annual_revenue DOUBLE, status VARCHAR, detail VARCHAR, "
    "source VARCHAR, fetched_at TIMESTAMP"
)
FIRMOGRAPHICS_COLUMNS = [*LOOKUP_COLUMNS, "source", "fetched_at"]


@dataclass(frozen=True)
class EnrichSummary:
    requested: int  # distinct domains asked for
    cached: int  # answered from the table (fresh within the TTL)
    fetched: int  # looked up now and found
    unknown: int  # looked up now, the provider has no company for it
    failed: int  # looked up now, failed after retries (not stored; retried next run)


def ensure_table(wh: Warehouse) -> None:
    wh.execute(f"CREATE TABLE IF NOT EXISTS {FIRMOGRAPHICS_TABLE} ({FIRMOGRAPHICS_DDL})")


def enrich(
    wh: Warehouse,
    provider: FirmographicsProvider,
    domains: list[str],
    as_of: datetime,
    ttl_days: int,
    batch_size: int = 100,
) -> EnrichSummary:
    """Bring `firmographics` up to date for `domains` as of `as_of` (see the module doc)."""
    if ttl_days < 0:
        raise ValueError("ttl_days must not be negative")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    as_of = naive_utc(as_of)
    wanted = sorted({d.strip().lower() for d in domains if isinstance(d, str) and d.strip()})
    ensure_table(wh)
    known = wh.query(f"SELECT domain, fetched_at FROM {FIRMOGRAPHICS_TABLE}")
    fetched_at = dict(zip(known["domain"], pd.to_datetime(known["fetched_at"]), strict=True))
    oldest_fresh = as_of - timedelta(days=ttl_days)
    todo = [d for d in wanted if d not in fetched_at or fetched_at[d] < oldest_fresh]
    cached = len(wanted) - len(todo)
    found = unknown = failed = 0
    for lo in range(0, len(todo), batch_size):
        batch = todo[lo : lo + batch_size]
        answer = _checked(provider, batch)
        keep = answer[answer["status"] != "failed"].copy()
        failed += len(answer) - len(keep)
        found += int((keep["status"] == "found").sum())
        unknown += int((keep["status"] == "unknown").sum())
        keep["source"] = provider.name
        keep["fetched_at"] = as_of
        _upsert(wh, keep[FIRMOGRAPHICS_COLUMNS])
    summary = EnrichSummary(len(wanted), cached, found, unknown, failed)
    log.info("enrichment as of %s via %s: %s", as_of, provider.name, summary)
    return summary


def _checked(provider: FirmographicsProvider, batch: list[str]) -> pd.DataFrame:
    """The provider's answer for `batch`, one row per domain; rows it left out are unknown."""
    df = provider.lookup(batch)
    missing = [c for c in LOOKUP_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"provider {provider.name} answered without columns {missing}")
    df = df[df["domain"].isin(batch)].drop_duplicates("domain")
    bad = sorted(set(df["status"]) - {"found", "unknown", "failed"})
    if bad:
        raise ValueError(f"provider {provider.name} answered unknown status {bad}")
    absent = [d for d in batch if d not in set(df["domain"])]
    rows = df.to_dict("records") + [
        {"domain": d, "status": "unknown", "detail": "no answer from provider"} for d in absent
    ]
    return lookup_frame(rows)


def _upsert(wh: Warehouse, df: pd.DataFrame) -> None:
    if df.empty:
        return
    wh.replace_df(_STAGE, df, {}, FIRMOGRAPHICS_DDL.replace(" PRIMARY KEY", ""))
    cols = ", ".join(FIRMOGRAPHICS_COLUMNS)
    with wh.transaction():
        wh.execute(
            f"DELETE FROM {FIRMOGRAPHICS_TABLE} WHERE domain IN (SELECT domain FROM {_STAGE})"
        )
        wh.execute(f"INSERT INTO {FIRMOGRAPHICS_TABLE} ({cols}) SELECT {cols} FROM {_STAGE}")
        wh.execute(f"DROP TABLE {_STAGE}")


def read_firmographics(wh: Warehouse, domains: list[str] | None = None) -> pd.DataFrame:
    """The stored firmographics (all, or for `domains`), columns FIRMOGRAPHICS_COLUMNS."""
    ensure_table(wh)
    sql = f"SELECT {', '.join(FIRMOGRAPHICS_COLUMNS)} FROM {FIRMOGRAPHICS_TABLE}"
    df = wh.query(sql + " ORDER BY domain")
    if domains is not None:
        df = df[df["domain"].isin(set(domains))].reset_index(drop=True)
    df["employees"] = df["employees"].astype("Int64")
    return df
