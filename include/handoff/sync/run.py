"""One sync run: the latest snapshot's changed records, and new rep tasks, to one CRM.

Steps: refuse a snapshot that is not the latest (a backfill never reaches the CRM); map the
account and PQL-user snapshots to CRM fields; hash each record and keep those whose hash
changed or whose last attempt failed; in a dry run, read the CRM's current values and return
the field-level preview without writing anything; otherwise upsert in chunks and commit each
chunk's acknowledged records to sync_state (rejected ones to dead_letter) before the next
chunk. Then one task per routed trigger episode whose account the CRM holds, never twice.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pandas as pd

from handoff.config.model import ScoringModel
from handoff.config.source import SourceConfig, load_source
from handoff.crm.base import CrmError, Destination, RecordResult, UpsertRecord
from handoff.sync.mapping import Crm, CrmMapping, MappedField, ObjectMapping
from handoff.sync.snapshot import build_snapshot, build_user_snapshot, latest_as_of
from handoff.sync.state import (
    RUNS_TABLE,
    canonical,
    commit_results,
    ensure_tables,
    fields_hash,
    open_dead_letters,
    read_state,
)
from handoff.sync.tasks import TASK_OBJECT, routed_tasks, task_spec
from handoff.warehouse import Warehouse, naive_utc

log = logging.getLogger(__name__)

CHUNK = 1000  # records per commit of sync_state; adapters batch further (100 / 200 per call)
# an adapter may ask for larger hand-overs (Salesforce: to reach Bulk API 2.0): batch_records
Progress = Callable[[int, int], None]


@dataclass
class ObjectSummary:
    kind: str  # account | user | tasks
    object: str  # the CRM object: companies, contacts, tasks / Account, Lead, Task
    records: int = 0
    sent: int = 0
    unchanged: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    pending: int = 0  # tasks waiting for their account to reach the CRM
    api_calls: int = 0


@dataclass
class SyncSummary:
    run_id: str
    destination: str
    as_of: datetime | None
    model_version: str
    dry_run: bool
    skipped_reason: str | None = None
    objects: dict[str, ObjectSummary] = field(default_factory=dict)
    api_calls: int = 0
    preview: list[dict] = field(default_factory=list)  # dry run: object, key, field, old, new

    def total(self, name: str) -> int:
        return sum(getattr(o, name) for o in self.objects.values())


@dataclass
class _Job:
    kind: str
    obj: str
    key_field: str
    todo: pd.DataFrame  # record_key, values, fields_hash
    dead: set[str]
    summary: ObjectSummary


def _column(values: pd.Series, f: MappedField) -> list:
    """canonical() of a whole column at once (same values, so hashes do not change), with
    the field's rounding."""
    kind = values.dtype.kind
    if kind == "f":
        out: list = [None if v != v else round(v, 4) for v in values.tolist()]
    elif kind in "iu":
        out = [int(v) for v in values.tolist()]
    elif kind == "b":
        out = [bool(v) for v in values.tolist()]
    elif kind == "M":
        out = [None if pd.isna(v) else v.isoformat() for v in values.tolist()]
    else:
        out = [canonical(v) for v in values.tolist()]
    if f.round is not None:
        digits = f.round
        out = [
            (round(float(v), digits) if digits else round(float(v)))
            if isinstance(v, int | float) and not isinstance(v, bool)
            else v
            for v in out
        ]
    return out


def mapped_records(frame: pd.DataFrame, om: ObjectMapping, crm: Crm) -> pd.DataFrame:
    """record_key, values (CRM field -> canonical value), fields_hash (over the fields that
    count as a change): one row per record."""
    written = om.written(crm)
    names = [f.name(crm) for f in written]
    columns = [_column(frame[f.source], f) for f in written]
    values = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    if not written:
        values = [{} for _ in range(len(frame))]
    hashed = [f.name(crm) for f in written if f.diff]
    key_col = om.key(crm).source
    return pd.DataFrame(
        {
            "record_key": frame[key_col].astype(str).to_numpy(),
            "values": values,
            "fields_hash": [fields_hash({k: v[k] for k in hashed}) for v in values],
        }
    )


def _changed(
    wh: Warehouse, destination: str, obj: str, records: pd.DataFrame
) -> tuple[pd.DataFrame, set[str], pd.Series]:
    """The records to send (hash changed, or an open dead letter), the open dead letters, and
    per record whether it is a retry."""
    state = read_state(wh, destination, obj).set_index("record_key")
    dead = set(open_dead_letters(wh, destination, obj)["record_key"])
    known = records["record_key"].map(state["fields_hash"]) if len(state) else None
    changed = (
        records["fields_hash"].ne(known) if known is not None else pd.Series(True, records.index)
    )
    retry = records["record_key"].isin(dead)
    return records[changed | retry], dead, retry[changed | retry]


def run_sync(
    wh: Warehouse,
    destination: Destination,
    model: ScoringModel,
    mapping: CrmMapping,
    crm: Crm,
    as_of: datetime | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    src: SourceConfig | None = None,
    tasks: bool = True,
) -> SyncSummary:
    """Push the latest snapshot's changed accounts and PQL users, then new rep tasks."""
    ensure_tables(wh)
    src = src or load_source()
    started = datetime.now(UTC).replace(tzinfo=None)
    latest = latest_as_of(wh, model.model_version)
    summary = SyncSummary(
        run_id=uuid.uuid4().hex, destination=destination.name, as_of=latest,
        model_version=model.model_version, dry_run=dry_run,
    )  # fmt: skip
    calls_before = destination.api_calls
    if latest is None:
        summary.skipped_reason = "no scores yet"
    elif as_of is not None and naive_utc(as_of) != latest:
        summary.as_of = naive_utc(as_of)
        summary.skipped_reason = f"not the latest snapshot ({latest:%Y-%m-%d %H:%M}): backfill"
    if summary.skipped_reason:
        log.info("sync to %s skipped: %s", destination.name, summary.skipped_reason)
        _record_runs(wh, summary, started)
        return summary
    assert latest is not None

    jobs: list[_Job] = []
    for kind, om in mapping.objects.items():
        if kind == "account":
            frame = build_snapshot(wh, model, latest, src)
        else:
            frame = build_user_snapshot(wh, model, latest, src, om.statuses)
        records = mapped_records(frame, om, crm)
        todo, dead, retry = _changed(wh, destination.name, om.object(crm), records)
        osum = ObjectSummary(kind=kind, object=om.object(crm), records=len(records))
        osum.unchanged = len(records) - len(todo)
        osum.retried = int(retry.sum())
        summary.objects[kind] = osum
        jobs.append(_Job(kind, om.object(crm), om.key(crm).name(crm) or "", todo, dead, osum))
    task_rows = routed_tasks(wh, latest) if tasks else pd.DataFrame(columns=["episode_id"])
    total = sum(len(j.todo) for j in jobs) + len(task_rows)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    if dry_run:
        for job in jobs:
            summary.preview += _preview(destination, job)
            tick(len(job.todo))
        if tasks:
            summary.objects["tasks"] = _task_preview(
                wh, destination.name, mapping, crm, task_rows, summary
            )
            tick(len(task_rows))
    else:
        for job in jobs:
            before = destination.api_calls
            _push(wh, destination, job, started, tick)
            job.summary.api_calls = destination.api_calls - before
            _log_object(destination.name, job.summary)
        if tasks:
            before = destination.api_calls
            tsum = _push_tasks(wh, destination, mapping, crm, task_rows, started, tick)
            tsum.api_calls = destination.api_calls - before
            summary.objects["tasks"] = tsum
            _log_object(destination.name, tsum)
    summary.api_calls = destination.api_calls - calls_before
    _record_runs(wh, summary, started)
    return summary


def _log_object(destination: str, o: ObjectSummary) -> None:
    log.info(
        "sync to %s.%s: %d records, %d sent (%d created, %d updated), %d unchanged, "
        "%d failed, %d retried, %d dead-lettered, %d pending, %d API calls",
        destination, o.object, o.records, o.sent, o.created, o.updated, o.unchanged, o.failed,
        o.retried, o.dead_lettered, o.pending, o.api_calls,
    )  # fmt: skip


def _commit(
    wh: Warehouse,
    destination: str,
    obj: str,
    chunk: pd.DataFrame,
    results: list[RecordResult],
    dead: set[str],
    osum: ObjectSummary,
    now: datetime,
) -> None:
    """Acknowledged records to sync_state, rejected ones to dead_letter; count them."""
    by_key = {r.key: r for r in results}
    acked_rows, failed_rows = [], []
    for rec in chunk.itertuples():
        res = by_key.get(rec.record_key)
        if res is not None and res.ok:
            acked_rows.append((rec.record_key, rec.fields_hash, res.crm_id))
            osum.created += bool(res.created)
            osum.updated += not res.created
        else:
            error = res.error if res is not None else "no result returned for this record"
            failed_rows.append((rec.record_key, json.dumps(rec.values, default=str), error))
    acked = pd.DataFrame(acked_rows, columns=["record_key", "fields_hash", "crm_id"])
    failed = pd.DataFrame(failed_rows, columns=["record_key", "payload", "error"])
    commit_results(wh, destination, obj, acked, failed, now)
    osum.sent += len(chunk)
    osum.failed += len(failed)
    osum.dead_lettered += int((~failed["record_key"].isin(dead)).sum())
    for row in failed_rows[:5]:
        log.warning("%s rejected %s %s: %s", destination, obj, row[0], row[2])


def _push(
    wh: Warehouse, destination: Destination, job: _Job, now: datetime, tick: Callable[[int], None]
) -> None:
    size = int(getattr(destination, "batch_records", CHUNK))
    for lo in range(0, len(job.todo), size):
        chunk = job.todo.iloc[lo : lo + size]
        batch = [
            UpsertRecord(k, v) for k, v in zip(chunk["record_key"], chunk["values"], strict=True)
        ]
        results = destination.upsert(job.obj, job.key_field, batch)
        _commit(wh, destination.name, job.obj, chunk, results, job.dead, job.summary, now)
        tick(len(chunk))


def _tasks_todo(
    wh: Warehouse, destination: str, mapping: CrmMapping, crm: Crm, rows: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """Tasks not yet acknowledged, split into those whose account the CRM holds and those
    still waiting for it; plus the open task dead letters."""
    if rows.empty:
        return rows, rows, set()
    done = read_state(wh, destination, TASK_OBJECT)
    acked = set(done.loc[done["last_status"].eq("ok"), "record_key"])
    todo = rows[~rows["episode_id"].isin(acked)]
    accounts = read_state(wh, destination, mapping.account.object(crm))
    synced = set(accounts.loc[accounts["crm_id"].notna(), "record_key"])
    ready = todo["account_domain"].astype(str).isin(synced)
    dead = set(open_dead_letters(wh, destination, TASK_OBJECT)["record_key"])
    return todo[ready], todo[~ready], dead


def _push_tasks(
    wh: Warehouse,
    destination: Destination,
    mapping: CrmMapping,
    crm: Crm,
    rows: pd.DataFrame,
    now: datetime,
    tick: Callable[[int], None],
) -> ObjectSummary:
    ready, waiting, dead = _tasks_todo(wh, destination.name, mapping, crm, rows)
    osum = ObjectSummary(kind="tasks", object=TASK_OBJECT, records=len(rows))
    osum.unchanged = len(rows) - len(ready) - len(waiting)
    osum.pending = len(waiting)
    osum.retried = int(ready["episode_id"].isin(dead).sum()) if len(ready) else 0
    key_field = getattr(mapping.task_key, crm)
    for lo in range(0, len(ready), CHUNK):
        part = ready.iloc[lo : lo + CHUNK]
        specs = [task_spec(r) for r in part.to_dict("records")]
        values = [
            {"subject": s.subject, "owner": s.owner_email, "due": s.due_at.isoformat()}
            for s in specs
        ]
        chunk = pd.DataFrame(
            {
                "record_key": [s.key for s in specs],
                "values": values,
                "fields_hash": [fields_hash(v) for v in values],
            }
        )
        results = destination.create_tasks(specs, key_field)
        _commit(wh, destination.name, TASK_OBJECT, chunk, results, dead, osum, now)
        tick(len(part))
    tick(len(rows) - len(ready))
    return osum


def _task_preview(
    wh: Warehouse,
    destination: str,
    mapping: CrmMapping,
    crm: Crm,
    rows: pd.DataFrame,
    summary: SyncSummary,
) -> ObjectSummary:
    ready, waiting, _ = _tasks_todo(wh, destination, mapping, crm, rows)
    osum = ObjectSummary(kind="tasks", object=TASK_OBJECT, records=len(rows))
    osum.unchanged = len(rows) - len(ready) - len(waiting)
    osum.pending = len(waiting)
    for r in pd.concat([ready, waiting]).to_dict("records"):
        summary.preview.append(
            {"object": TASK_OBJECT, "key": r["episode_id"], "field": "task", "old": None,
             "new": f"{r['subject']} (owner {r['owner_email']}, due {r['sla_due_at']})"}
        )  # fmt: skip
    return osum


def _preview(destination: Destination, job: _Job) -> list[dict]:
    if job.todo.empty:
        return []
    fields = sorted({f for v in job.todo["values"] for f in v})
    try:
        current = destination.read(job.obj, job.key_field, list(job.todo["record_key"]), fields)
    except CrmError as exc:
        if exc.retryable or exc.status not in (400, None):
            raise
        # before the first provisioning the key field does not exist: nothing to compare with
        log.warning(
            "dry run: cannot read %s by %s (%s); previewing as if none exist yet",
            job.obj, job.key_field, exc,
        )  # fmt: skip
        current = {}
    out = []
    for rec in job.todo.itertuples():
        old = current.get(rec.record_key, {})
        for name, new in rec.values.items():
            before = canonical(old.get(name))
            if _differs(before, new):
                out.append(
                    {"object": job.obj, "key": rec.record_key, "field": name, "old": before,
                     "new": new}
                )  # fmt: skip
    return out


def _differs(old: object, new: object) -> bool:
    """Whether the CRM's current value differs from ours. CRMs hand values back as strings:
    numbers '12.5', booleans 'true', datetimes '...T00:00:00.000Z' / '...+0000'."""
    if old is None or new is None:
        return (old is None) != (new is None) and new not in ("", None)
    if isinstance(new, bool):
        return str(old).strip().lower() != str(new).lower()
    if isinstance(new, int | float):
        try:
            return float(old) != float(new)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return True
    if isinstance(new, str) and isinstance(old, str) and _ISO.match(new) and _ISO.match(old):
        try:
            return _utc(old) != _utc(new)
        except ValueError:
            pass
    return str(old) != str(new)


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _utc(text: str) -> pd.Timestamp:
    ts = pd.Timestamp(text)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts


def _record_runs(wh: Warehouse, summary: SyncSummary, started: datetime) -> None:
    base = {
        "run_id": summary.run_id, "destination": summary.destination, "as_of": summary.as_of,
        "model_version": summary.model_version, "dry_run": summary.dry_run,
        "skipped_reason": summary.skipped_reason, "started_at": started,
        "finished_at": datetime.now(UTC).replace(tzinfo=None),
    }  # fmt: skip
    objects = summary.objects.values() or [ObjectSummary(kind="none", object=None)]  # type: ignore[arg-type]
    rows = [{**base, **{k: v for k, v in asdict(o).items() if k != "kind"}} for o in objects]
    with wh.transaction():
        wh.insert_rows(RUNS_TABLE, pd.DataFrame(rows))
