"""One way to run SQL against the warehouse: DuckDB (a file path, the default) or PostgreSQL.

SQL is written once in DuckDB's dialect and transpiled by sqlglot for the target. Timestamps
in the warehouse are naive UTC. Writes that replace a slice (one as_of, one model version)
run in one transaction, so a rerun replaces rows and never duplicates them.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import sqlglot

from handoff.errors import WarehouseError

log = logging.getLogger(__name__)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ident(name: str) -> str:
    """Validate a table or column name taken from configuration."""
    if not _IDENT.match(name):
        raise WarehouseError(f"not a valid SQL identifier: {name!r}")
    return name


def literal(value: Any) -> str:
    """Render a Python value as a SQL literal both dialects accept."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{naive_utc(value).isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def naive_utc(ts: datetime) -> datetime:
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


class Warehouse:
    """A connection to DuckDB or PostgreSQL with dialect-aware helpers."""

    def __init__(self, url: str | Path) -> None:
        url = str(url)
        self.url = url
        if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            import psycopg

            self.dialect = "postgres"
            dsn = url.replace("postgresql+psycopg://", "postgresql://")
            from psycopg.types.numeric import FloatLoader

            try:
                self._pg = psycopg.connect(dsn, autocommit=True)
            except psycopg.Error as exc:
                raise WarehouseError(f"cannot connect to {redact(url)}: {exc}") from exc
            # numeric results (round(), sum()) come back as floats, as DuckDB's doubles do
            self._pg.adapters.register_loader("numeric", FloatLoader)
            self._duck = None
        else:
            path = url.removeprefix("duckdb:///").removeprefix("duckdb://")
            self.dialect = "duckdb"
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._duck = duckdb.connect(path)
            self._pg = None
        log.debug("connected to %s warehouse %s", self.dialect, redact(url))

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._duck is not None:
            self._duck.close()
        if self._pg is not None:
            self._pg.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- SQL -------------------------------------------------------------------------------
    def transpile(self, sql: str) -> str:
        if self.dialect == "duckdb":
            return sql
        return ";\n".join(sqlglot.transpile(sql, read="duckdb", write="postgres"))

    def execute(self, sql: str) -> None:
        self._run(self.transpile(sql))

    def query(self, sql: str) -> pd.DataFrame:
        sql = self.transpile(sql)
        try:
            if self._duck is not None:
                return self._duck.sql(sql).df()
            return self._pg_query(sql)
        except Exception as exc:
            raise WarehouseError(f"query failed on {self.dialect}: {exc}\n{sql[:2000]}") from exc

    def scalar(self, sql: str) -> Any:
        df = self.query(sql)
        return None if df.empty else df.iat[0, 0]

    def _run(self, sql: str) -> None:
        try:
            if self._duck is not None:
                self._duck.execute(sql)
            else:
                with self._pg.cursor() as cur:
                    cur.execute(sql)
        except Exception as exc:
            raise WarehouseError(
                f"statement failed on {self.dialect}: {exc}\n{sql[:2000]}"
            ) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._duck is not None:
            self._duck.execute("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                self._duck.execute("ROLLBACK")
                raise
            self._duck.execute("COMMIT")
        else:
            with self._pg.transaction():
                yield

    # -- catalog ---------------------------------------------------------------------------
    def has_table(self, table: str) -> bool:
        return table in self.tables()

    def tables(self) -> set[str]:
        if self._duck is not None:
            rows = self._duck.sql("SELECT table_name FROM information_schema.tables").fetchall()
        else:
            with self._pg.cursor() as cur:
                cur.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = ANY(current_schemas(true))"
                )
                rows = cur.fetchall()
        return {r[0] for r in rows}

    def columns(self, table: str) -> list[str]:
        return list(self._column_types(table)["column_name"])

    def _column_types(self, table: str) -> pd.DataFrame:
        scope = (
            " AND table_schema = ANY(current_schemas(true))" if self.dialect == "postgres" else ""
        )
        sql = (
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_name = {literal(table)}{scope} ORDER BY ordinal_position"
        )
        return self._pg_query(sql) if self._pg is not None else self._duck.sql(sql).df()

    def _pg_query(self, sql: str) -> pd.DataFrame:
        with self._pg.cursor() as cur:
            cur.execute(sql)
            return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])

    # -- writes ----------------------------------------------------------------------------
    def replace_select(self, table: str, select_sql: str, where: Mapping[str, Any]) -> int:
        """Replace the rows of `table` matching `where` with the rows of `select_sql`.

        Creates the table from the select on first use and adds columns the select has and
        the table lacks. Runs in one transaction. Returns the number of rows written.
        """
        ident(table)
        cond = " AND ".join(f"{ident(k)} = {literal(v)}" for k, v in where.items()) or "TRUE"
        staged = f"_stage_{table}"
        with self.transaction():
            self.execute(f"DROP TABLE IF EXISTS {staged}")
            self.execute(f"CREATE TEMPORARY TABLE {staged} AS {select_sql}")
            cols = self.columns(staged)
            if self.has_table(table):
                self._add_missing_columns(table, staged, cols)
                self.execute(f"DELETE FROM {table} WHERE {cond}")
                col_list = ", ".join(cols)
                self.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {staged}")
            else:
                # created with its rows in one statement: DuckDB 2.0.0 hides from this
                # database the rows of an INSERT of a row group or more (122,880 rows) into a
                # table that an empty CREATE TABLE AS made in the same transaction
                self.execute(f"CREATE TABLE {table} AS SELECT * FROM {staged}")
            n = int(self.scalar(f"SELECT count(*) FROM {staged}"))
            self.execute(f"DROP TABLE {staged}")
        return n

    def _add_missing_columns(self, table: str, staged: str, cols: list[str]) -> None:
        have = set(self.columns(table))
        missing = [c for c in cols if c not in have]
        if not missing:
            return
        types = self._column_types(staged).set_index("column_name")["data_type"]
        for col in missing:
            self.execute(f"ALTER TABLE {table} ADD COLUMN {col} {types[col]}")

    def replace_df(self, table: str, df: pd.DataFrame, where: Mapping[str, Any], ddl: str) -> int:
        """Replace the rows of `table` matching `where` with `df` (columns as in `ddl`)."""
        ident(table)
        cond = " AND ".join(f"{ident(k)} = {literal(v)}" for k, v in where.items()) or "TRUE"
        with self.transaction():
            self.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")
            self.execute(f"DELETE FROM {table} WHERE {cond}")
            if not df.empty:
                self._insert_df(table, df)
        return len(df)

    def _insert_df(self, table: str, df: pd.DataFrame) -> None:
        cols = ", ".join(ident(c) for c in df.columns)
        if self._duck is not None:
            self._duck.register("_handoff_df", df)
            try:
                self._duck.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _handoff_df")
            finally:
                self._duck.unregister("_handoff_df")
            return
        buf = io.StringIO()
        df.to_csv(buf, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S")
        buf.seek(0)
        with (
            self._pg.cursor() as cur,
            cur.copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy,
        ):
            while chunk := buf.read(1 << 20):
                copy.write(chunk)

    def load_df(self, table: str, df: pd.DataFrame) -> None:
        """Create (or replace) a table from a DataFrame; for sample data and tests."""
        ident(table)
        if self._duck is not None:
            self._duck.register("_handoff_df", df)
            try:
                self._duck.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _handoff_df")
            finally:
                self._duck.unregister("_handoff_df")
            return
        ddl = ", ".join(f"{ident(c)} {_pg_type(df[c])}" for c in df.columns)
        with self.transaction():
            self.execute(f"DROP TABLE IF EXISTS {table}")
            self._run(f"CREATE TABLE {table} ({ddl})")
            self._insert_df(table, df)

    def insert_rows(self, table: str, df: pd.DataFrame) -> None:
        """Insert a DataFrame's rows into an existing table, inside the caller's transaction."""
        if not df.empty:
            self._insert_df(ident(table), df)

    def append_df(self, table: str, df: pd.DataFrame) -> None:
        """Append a DataFrame to an existing table (the sample generator writes in chunks)."""
        with self.transaction():
            self._insert_df(ident(table), df)


def _pg_type(series: pd.Series) -> str:
    kind = series.dtype.kind
    if kind == "b":
        return "BOOLEAN"
    if kind in "iu":
        return "BIGINT"
    if kind == "f":
        return "DOUBLE PRECISION"
    if kind == "M":
        return "TIMESTAMP"
    return "TEXT"
