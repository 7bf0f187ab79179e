"""Turn the `handoff_warehouse` Airflow connection into a warehouse URL.

Connection types:
- `duckdb`: `host` (or extra `path`) is the database file.
  e.g. AIRFLOW_CONN_HANDOFF_WAREHOUSE='{"conn_type": "duckdb", "host": "/data/warehouse.duckdb"}'
- `postgres`: host, port, login, password, schema (the database).
Without the connection, HANDOFF_WAREHOUSE_URL or $HANDOFF_HOME/warehouse.duckdb is used.
The password never reaches a log: only the redacted URL is logged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import quote

from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import BaseHook

from handoff.warehouse import redact

log = logging.getLogger(__name__)


class HandoffWarehouseHook(BaseHook):
    conn_name_attr = "handoff_conn_id"
    default_conn_name = "handoff_warehouse"
    conn_type = "duckdb"
    hook_name = "Handoff warehouse"

    def __init__(self, handoff_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.handoff_conn_id = handoff_conn_id

    def get_url(self) -> str:
        try:
            conn = self.get_connection(self.handoff_conn_id)
        except AirflowNotFoundException:
            url = os.environ.get("HANDOFF_WAREHOUSE_URL") or str(
                Path(os.environ.get("HANDOFF_HOME", "data")) / "warehouse.duckdb"
            )
            log.info("no connection %r; using %s", self.handoff_conn_id, redact(url))
            return url
        kind = (conn.conn_type or "").lower()
        if kind == "duckdb":
            path = conn.extra_dejson.get("path") or conn.host
            if not path:
                raise ValueError(
                    f"connection {self.handoff_conn_id}: duckdb needs host or extra.path"
                )
            url = str(path)
        elif kind in ("postgres", "postgresql"):
            auth = ""
            if conn.login:
                auth = quote(conn.login, safe="")
                if conn.password:
                    auth += ":" + quote(conn.password, safe="")
                auth += "@"
            port = f":{conn.port}" if conn.port else ""
            url = f"postgresql://{auth}{conn.host or 'localhost'}{port}/{conn.schema or 'postgres'}"
        else:
            raise ValueError(
                f"connection {self.handoff_conn_id}: unsupported conn_type {conn.conn_type!r} "
                "(use duckdb or postgres)"
            )
        log.info("warehouse from connection %r: %s", self.handoff_conn_id, redact(url))
        return url


def enrichment_credentials(conn_id: str = "handoff_enrichment") -> tuple[str | None, str | None]:
    """Base URL and token of the HTTP firmographics provider, from an optional connection.

    e.g. AIRFLOW_CONN_HANDOFF_ENRICHMENT='{"conn_type": "http", "host": "https://company.clearbit.com",
    "password": "<token>"}'. Without it, enrichment uses the provider in enrichment.yaml (the
    sample CSV by default) or HANDOFF_ENRICH_URL / HANDOFF_ENRICH_TOKEN.
    """
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None, None
    host = conn.host or ""
    if host and "://" not in host:
        scheme = conn.schema or "https"
        host = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    return host or None, conn.password or None
