"""The pulled CRM tables and the watermarks: DDL, idempotent upserts by (destination, crm_id),
and watermark reads/writes. Every write runs inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from handoff.outcomes.schema import (
    CRM_ACCOUNTS_TABLE,
    CRM_DEALS_TABLE,
    CRM_TASKS_TABLE,
    WATERMARKS_TABLE,
)
from handoff.warehouse import Warehouse, literal, naive_utc

IN_CHUNK = 1000  # keys per `IN (...)`

_COMMON_TAIL = {
    "is_deleted": "BOOLEAN",  # archived (HubSpot) / in the recycle bin (Salesforce)
    "deleted_at": "TIMESTAMP",
    "created_at": "TIMESTAMP",
    "modified_at": "TIMESTAMP",  # hs_lastmodifieddate / SystemModstamp: the pull's cursor
    "pulled_at": "TIMESTAMP",  # our clock, when this version was read
}
COLUMNS: dict[str, dict[str, str]] = {
    CRM_ACCOUNTS_TABLE: {
        "destination": "VARCHAR",
        "crm_id": "VARCHAR",
        "account_key": "VARCHAR",  # the unique account key = the account domain
        "disposition": "VARCHAR",  # accepted | rejected
        "reject_reason": "VARCHAR",
        "disposition_at": "TIMESTAMP",  # when the current disposition was set
        "merged_into": "VARCHAR",  # crm_id of the record this one was merged into
        **_COMMON_TAIL,
    },
    CRM_TASKS_TABLE: {
        "destination": "VARCHAR",
        "crm_id": "VARCHAR",
        "task_key": "VARCHAR",  # Handoff's episode id (NULL for other activities)
        "account_crm_id": "VARCHAR",  # the company / Account the task is tied to
        "status": "VARCHAR",
        "is_completed": "BOOLEAN",
        "completed_at": "TIMESTAMP",
        "due_at": "TIMESTAMP",
        **_COMMON_TAIL,
    },
    CRM_DEALS_TABLE: {
        "destination": "VARCHAR",
        "crm_id": "VARCHAR",
        "account_crm_id": "VARCHAR",
        "name": "VARCHAR",
        "stage": "VARCHAR",
        "is_closed": "BOOLEAN",
        "is_won": "BOOLEAN",
        "amount": "DOUBLE",
        "closed_at": "TIMESTAMP",  # the close date once closed (expected close date before)
        **_COMMON_TAIL,
    },
    WATERMARKS_TABLE: {
        "destination": "VARCHAR",
        "object": "VARCHAR",
        "watermark": "TIMESTAMP",  # the newest last-modified time read and committed (CRM clock)
        "pulled_at": "TIMESTAMP",
        "records": "BIGINT",  # records read by the pull that set it
    },
}
TIMESTAMPS = {
    table: [c for c, t in cols.items() if t == "TIMESTAMP"] for table, cols in COLUMNS.items()
}


def ddl(table: str) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in COLUMNS[table].items())


def ensure_tables(wh: Warehouse) -> None:
    for table in COLUMNS:
        wh.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl(table)})")


def _in_list(values: Sequence[str]) -> str:
    return ", ".join(literal(str(v)) for v in values)


def existing_rows(wh: Warehouse, table: str, destination: str, ids: Sequence[str]) -> pd.DataFrame:
    """The stored rows of these crm_ids (all columns)."""
    frames = [pd.DataFrame(columns=list(COLUMNS[table]))]
    unique = list(dict.fromkeys(str(i) for i in ids))
    for lo in range(0, len(unique), IN_CHUNK):
        chunk = unique[lo : lo + IN_CHUNK]
        frames.append(
            wh.query(
                f"SELECT * FROM {table} WHERE destination = {literal(destination)} "
                f"AND crm_id IN ({_in_list(chunk)})"
            )
        )
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS[table]))
    return pd.concat(frames, ignore_index=True)


def frame(table: str, rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly the table's columns and types (missing -> NULL)."""
    cols = COLUMNS[table]
    df = pd.DataFrame(rows, columns=list(cols))
    for name, kind in cols.items():
        if kind == "TIMESTAMP":
            df[name] = pd.to_datetime(df[name], utc=True).dt.tz_localize(None)
        elif kind == "DOUBLE":
            df[name] = pd.to_numeric(df[name], errors="coerce").astype(float)
        elif kind == "BOOLEAN":
            df[name] = df[name].astype("boolean")
        elif kind == "BIGINT":
            df[name] = pd.to_numeric(df[name], errors="coerce").astype("Int64")
        else:
            df[name] = df[name].astype(object).where(df[name].notna(), None)
    return df


def upsert(
    wh: Warehouse,
    table: str,
    destination: str,
    rows: list[dict],
    keep: Sequence[str] = (),
) -> int:
    """Insert or replace rows by (destination, crm_id); the last row of an id wins. Columns
    in `keep` keep their stored value where the new row has none (partial rows: a merge
    marker, an archived record without associations). Run inside a transaction."""
    if not rows:
        return 0
    df = frame(table, rows).drop_duplicates("crm_id", keep="last").reset_index(drop=True)
    df["destination"] = destination
    ids = list(df["crm_id"])
    old = existing_rows(wh, table, destination, ids)
    if keep and not old.empty:
        old = frame(table, old.to_dict("records")).drop_duplicates("crm_id").set_index("crm_id")
        indexed = df.set_index("crm_id")
        for col in keep:
            indexed[col] = indexed[col].where(indexed[col].notna(), old[col].reindex(indexed.index))
        df = frame(table, indexed.reset_index().to_dict("records"))
        df["destination"] = destination
    for lo in range(0, len(ids), IN_CHUNK):
        wh.execute(
            f"DELETE FROM {table} WHERE destination = {literal(destination)} "
            f"AND crm_id IN ({_in_list(ids[lo : lo + IN_CHUNK])})"
        )
    wh.insert_rows(table, df)
    return len(df)


def read_watermark(wh: Warehouse, destination: str, obj: str) -> datetime | None:
    value = wh.scalar(
        f"SELECT max(watermark) FROM {WATERMARKS_TABLE} "
        f"WHERE destination = {literal(destination)} AND object = {literal(obj)}"
    )
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def write_watermark(
    wh: Warehouse, destination: str, obj: str, watermark: datetime, pulled_at: datetime, n: int
) -> None:
    """Replace the watermark of (destination, object); never moves it backwards."""
    current = read_watermark(wh, destination, obj)
    mark = naive_utc(watermark)
    if current is not None and current > mark:
        mark = current
    wh.execute(
        f"DELETE FROM {WATERMARKS_TABLE} WHERE destination = {literal(destination)} "
        f"AND object = {literal(obj)}"
    )
    wh.execute(
        f"INSERT INTO {WATERMARKS_TABLE} (destination, object, watermark, pulled_at, records) "
        f"VALUES ({literal(destination)}, {literal(obj)}, {literal(mark)}, "
        f"{literal(naive_utc(pulled_at))}, {int(n)})"
    )
