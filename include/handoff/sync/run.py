"""One sync run: the latest snapshot's changed records to one CRM destination.

Steps: refuse a snapshot that is not the latest (a backfill never reaches the CRM); map the
snapshot to CRM fields; hash each record and keep those whose hash changed or whose last
attempt failed; in a dry run, read the CRM's current values and return the field-level
preview without writing anything; otherwise upsert in chunks and commit each chunk's
acknowledged records to sync_state (rejected ones to dead_letter) before the next chunk.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pandas as pd

from handoff.config.model import ScoringModel
from handoff.crm.base import Destination, UpsertRecord
from handoff.sync.mapping import Crm, CrmMapping
from handoff.sync.snapshot import build_snapshot, latest_as_of
from handoff.sync.state import (
    RUNS_TABLE,
    canonical,
    commit_results,
    ensure_tables,
    fields_hash,
    open_dead_letters,
    read_state,
)
from handoff.warehouse import Warehouse, naive_utc

log = logging.getLogger(__name__)

CHUNK = 1000  # records per commit of sync_state; adapters batch further (100 / 200 per call)


@dataclass
class SyncSummary:
    run_id: str
    destination: str
    object: str
    as_of: datetime | None
    model_version: str
    dry_run: bool
    skipped_reason: str | None = None
    records: int = 0
    sent: int = 0
    unchanged: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    tasks_created: int = 0
    api_calls: int = 0
    preview: list[dict] = field(default_factory=list)  # dry run: key, field, old, new


def mapped_records(snapshot: pd.DataFrame, mapping: CrmMapping, crm: Crm) -> pd.DataFrame:
    """record_key, values (CRM field -> canonical value), fields_hash, one row per account."""
    written = mapping.written()
    values = [
        {getattr(f, crm): canonical(row[f.source]) for f in written}
        for row in snapshot.to_dict("records")
    ]
    key_col = mapping.key.source
    return pd.DataFrame(
        {
            "record_key": snapshot[key_col].astype(str).to_numpy(),
            "values": values,
            "fields_hash": [fields_hash(v) for v in values],
        }
    )


def run_sync(
    wh: Warehouse,
    destination: Destination,
    model: ScoringModel,
    mapping: CrmMapping,
    crm: Crm,
    as_of: datetime | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SyncSummary:
    """Push the latest snapshot's changed accounts; return what happened (and the preview)."""
    ensure_tables(wh)
    obj = mapping.objects[crm]
    started = datetime.now(UTC).replace(tzinfo=None)
    latest = latest_as_of(wh, model.model_version)
    summary = SyncSummary(
        run_id=uuid.uuid4().hex, destination=destination.name, object=obj,
        as_of=latest, model_version=model.model_version, dry_run=dry_run,
    )  # fmt: skip
    calls_before = destination.api_calls
    if latest is None:
        summary.skipped_reason = "no scores yet"
    elif as_of is not None and naive_utc(as_of) != latest:
        summary.as_of = naive_utc(as_of)
        summary.skipped_reason = f"not the latest snapshot ({latest:%Y-%m-%d %H:%M}): backfill"
    if summary.skipped_reason:
        log.info("sync to %s skipped: %s", destination.name, summary.skipped_reason)
        _record_run(wh, summary, started)
        return summary

    records = mapped_records(build_snapshot(wh, model, latest), mapping, crm)
    state = read_state(wh, destination.name, obj).set_index("record_key")
    dead = set(open_dead_letters(wh, destination.name, obj)["record_key"])
    known_hash = records["record_key"].map(state["fields_hash"]) if len(state) else None
    changed = (
        records["fields_hash"].ne(known_hash)
        if known_hash is not None
        else pd.Series(True, index=records.index)
    )
    retry = records["record_key"].isin(dead)
    todo = records[changed | retry]
    summary.records = len(records)
    summary.unchanged = len(records) - len(todo)
    summary.retried = int(retry[changed | retry].sum())
    key_field = getattr(mapping.key, crm)

    if dry_run:
        summary.preview = _preview(destination, obj, key_field, todo)
        summary.sent = 0
        summary.api_calls = destination.api_calls - calls_before
        _record_run(wh, summary, started)
        return summary

    now = started
    for lo in range(0, len(todo), CHUNK):
        chunk = todo.iloc[lo : lo + CHUNK]
        batch = [
            UpsertRecord(k, v) for k, v in zip(chunk["record_key"], chunk["values"], strict=True)
        ]
        results = destination.upsert(obj, key_field, batch)
        by_key = {r.key: r for r in results}
        acked_rows, failed_rows = [], []
        for rec in chunk.itertuples():
            res = by_key.get(rec.record_key)
            if res is not None and res.ok:
                acked_rows.append((rec.record_key, rec.fields_hash, res.crm_id))
                summary.created += bool(res.created)
                summary.updated += not res.created
            else:
                error = res.error if res is not None else "no result returned for this record"
                failed_rows.append((rec.record_key, json.dumps(rec.values, default=str), error))
        acked = pd.DataFrame(acked_rows, columns=["record_key", "fields_hash", "crm_id"])
        failed = pd.DataFrame(failed_rows, columns=["record_key", "payload", "error"])
        commit_results(wh, destination.name, obj, acked, failed, now)
        summary.sent += len(chunk)
        summary.failed += len(failed)
        summary.dead_lettered += int((~failed["record_key"].isin(dead)).sum())
        if progress:
            progress(min(lo + CHUNK, len(todo)), len(todo))
    summary.api_calls = destination.api_calls - calls_before
    _record_run(wh, summary, started)
    log.info(
        "sync to %s.%s: %d records, %d sent, %d unchanged, %d failed, %d API calls",
        destination.name, obj, summary.records, summary.sent, summary.unchanged,
        summary.failed, summary.api_calls,
    )  # fmt: skip
    return summary


def _preview(destination: Destination, obj: str, key_field: str, todo: pd.DataFrame) -> list[dict]:
    if todo.empty:
        return []
    fields = sorted({f for v in todo["values"] for f in v})
    current = destination.read(obj, key_field, list(todo["record_key"]), fields)
    out = []
    for rec in todo.itertuples():
        old = current.get(rec.record_key, {})
        for name, new in rec.values.items():
            before = canonical(old.get(name))
            if _differs(before, new):
                out.append({"key": rec.record_key, "field": name, "old": before, "new": new})
    return out


def _differs(old: object, new: object) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None) and new not in ("", None)
    try:
        return float(old) != float(new)  # CRMs hand numbers back as strings
    except (TypeError, ValueError):
        return str(old) != str(new)


def _record_run(wh: Warehouse, summary: SyncSummary, started: datetime) -> None:
    row = {k: v for k, v in asdict(summary).items() if k != "preview"}
    row["started_at"] = started
    row["finished_at"] = datetime.now(UTC).replace(tzinfo=None)
    with wh.transaction():
        wh.insert_rows(RUNS_TABLE, pd.DataFrame([row]))
