"""Sync bookkeeping in the warehouse: what each CRM record holds, what failed, what ran.

sync_state   one row per (destination, object, record key): hash of the mapped values, CRM
             id, last status. A record is sent only when its hash changed; its row is
             written only after the CRM acknowledged that record.
dead_letter  records the CRM rejected, with its message; retried on every later run until
             they succeed (resolved_at set) or are fixed upstream.
sync_runs    one row per run and object (accounts, users, tasks): sent, unchanged, created,
             updated, failed, retried, dead-lettered, pending, API calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import pandas as pd

from handoff.warehouse import Warehouse, literal

STATE_TABLE = "sync_state"
DEAD_LETTER_TABLE = "dead_letter"
RUNS_TABLE = "sync_runs"

STATE_DDL = """
    destination VARCHAR NOT NULL, object VARCHAR NOT NULL, record_key VARCHAR NOT NULL,
    fields_hash VARCHAR, crm_id VARCHAR, last_status VARCHAR, last_error VARCHAR,
    last_synced_at TIMESTAMP
"""
DEAD_LETTER_DDL = """
    destination VARCHAR NOT NULL, object VARCHAR NOT NULL, record_key VARCHAR NOT NULL,
    payload VARCHAR, error VARCHAR, attempts BIGINT, first_failed_at TIMESTAMP,
    last_failed_at TIMESTAMP, resolved_at TIMESTAMP
"""
RUNS_DDL = """
    run_id VARCHAR NOT NULL, destination VARCHAR, object VARCHAR, as_of TIMESTAMP,
    model_version VARCHAR, dry_run BOOLEAN, skipped_reason VARCHAR, started_at TIMESTAMP,
    finished_at TIMESTAMP, records BIGINT, sent BIGINT, unchanged BIGINT, created BIGINT,
    updated BIGINT, failed BIGINT, retried BIGINT, dead_lettered BIGINT, pending BIGINT,
    api_calls BIGINT
"""


def canonical(value: Any) -> Any:
    """A JSON-stable form of a value: NaN/NaT -> None, timestamps ISO, floats rounded."""
    if value is None:
        return None
    if isinstance(value, float | int) and not isinstance(value, bool):
        if pd.isna(value):
            return None
        return round(float(value), 4) if isinstance(value, float) else int(value)
    if isinstance(value, pd.Timestamp | datetime):
        return None if pd.isna(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return canonical(value.item())
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def fields_hash(values: dict[str, Any]) -> str:
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_tables(wh: Warehouse) -> None:
    for table, ddl in ((STATE_TABLE, STATE_DDL), (DEAD_LETTER_TABLE, DEAD_LETTER_DDL),
                       (RUNS_TABLE, RUNS_DDL)):  # fmt: skip
        wh.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")


def read_state(wh: Warehouse, destination: str, obj: str) -> pd.DataFrame:
    return wh.query(
        f"SELECT record_key, fields_hash, crm_id, last_status FROM {STATE_TABLE} "
        f"WHERE destination = {literal(destination)} AND object = {literal(obj)}"
    )


def open_dead_letters(wh: Warehouse, destination: str, obj: str) -> pd.DataFrame:
    return wh.query(
        f"SELECT record_key, attempts, first_failed_at FROM {DEAD_LETTER_TABLE} "
        f"WHERE destination = {literal(destination)} AND object = {literal(obj)} "
        "AND resolved_at IS NULL"
    )


def _in(keys: Iterable[str]) -> str:
    return "(" + ", ".join(literal(k) for k in keys) + ")"


def commit_results(
    wh: Warehouse,
    destination: str,
    obj: str,
    acked: pd.DataFrame,
    failed: pd.DataFrame,
    now: datetime,
) -> None:
    """Record one acknowledged batch: state for every record the CRM answered, dead letters
    opened for rejected records, resolved for records that now succeeded. One transaction.

    acked: record_key, fields_hash, crm_id; failed: record_key, payload, error.
    """
    keys = list(acked["record_key"]) + list(failed["record_key"])
    if not keys:
        return
    where = f"destination = {literal(destination)} AND object = {literal(obj)}"
    with wh.transaction():
        previous = wh.query(
            f"SELECT record_key, fields_hash, crm_id FROM {STATE_TABLE} "
            f"WHERE {where} AND record_key IN {_in(keys)}"
        ).set_index("record_key")
        wh.execute(f"DELETE FROM {STATE_TABLE} WHERE {where} AND record_key IN {_in(keys)}")
        rows = [
            {
                "destination": destination, "object": obj, "record_key": r.record_key,
                "fields_hash": r.fields_hash, "crm_id": r.crm_id, "last_status": "ok",
                "last_error": None, "last_synced_at": now,
            }
            for r in acked.itertuples()
        ]  # fmt: skip
        for r in failed.itertuples():
            # keep the last acknowledged hash, so the record is sent again next run
            prev = previous.loc[r.record_key] if r.record_key in previous.index else None
            rows.append(
                {
                    "destination": destination, "object": obj, "record_key": r.record_key,
                    "fields_hash": None if prev is None else prev["fields_hash"],
                    "crm_id": None if prev is None else prev["crm_id"],
                    "last_status": "failed", "last_error": r.error, "last_synced_at": now,
                }
            )  # fmt: skip
        wh.insert_rows(STATE_TABLE, pd.DataFrame(rows))
        if len(acked):
            wh.execute(
                f"UPDATE {DEAD_LETTER_TABLE} SET resolved_at = {literal(now)} WHERE {where} "
                f"AND resolved_at IS NULL AND record_key IN {_in(acked['record_key'])}"
            )
        if len(failed):
            # set-based, so a storm of rejections costs a few statements, not one per record
            keys_sql = _in(failed["record_key"])
            open_rows = wh.query(
                f"SELECT record_key, attempts, first_failed_at FROM {DEAD_LETTER_TABLE} "
                f"WHERE {where} AND resolved_at IS NULL AND record_key IN {keys_sql}"
            ).set_index("record_key")
            wh.execute(
                f"DELETE FROM {DEAD_LETTER_TABLE} WHERE {where} AND resolved_at IS NULL "
                f"AND record_key IN {keys_sql}"
            )
            letters = []
            for r in failed.itertuples():
                seen = r.record_key in open_rows.index
                letters.append(
                    {
                        "destination": destination, "object": obj,
                        "record_key": r.record_key, "payload": r.payload, "error": r.error,
                        "attempts": int(open_rows.loc[r.record_key, "attempts"]) + 1 if seen else 1,
                        "first_failed_at": open_rows.loc[r.record_key, "first_failed_at"]
                        if seen else now,
                        "last_failed_at": now, "resolved_at": None,
                    }
                )  # fmt: skip
            wh.insert_rows(DEAD_LETTER_TABLE, pd.DataFrame(letters))
