"""include/config/enrichment.yaml: which firmographics provider, how long answers keep.

The HTTP provider's URL and token are never in the file: the DAG passes them from an
Airflow connection, the CLI from HANDOFF_ENRICH_URL / HANDOFF_ENRICH_TOKEN.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model
from handoff.config.model import Strict
from handoff.enrich.errors import EnrichmentError
from handoff.enrich.providers import CsvProvider, FirmographicsProvider, HttpProvider, TableProvider
from handoff.warehouse import Warehouse

ENV_URL = "HANDOFF_ENRICH_URL"
ENV_TOKEN = "HANDOFF_ENRICH_TOKEN"


class CsvSettings(Strict):
    # relative paths are read from `base_dir` (the DuckDB warehouse's folder by default)
    path: str = "firmographics.csv"


class TableSettings(Strict):
    name: str = Field(default="firmographics_source", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class HttpSettings(Strict):
    base_url: str | None = None  # normally from the connection / HANDOFF_ENRICH_URL
    requests_per_second: float = Field(default=5.0, gt=0, le=1000)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_retries: int = Field(default=4, ge=0, le=20)
    backoff_initial_seconds: float = Field(default=0.5, ge=0, le=60)
    backoff_max_seconds: float = Field(default=30.0, gt=0, le=600)
    max_retry_after_seconds: float = Field(default=120.0, ge=0, le=3600)


class EnrichmentConfig(Strict):
    provider: Literal["csv", "table", "http"] = "csv"
    ttl_days: int = Field(default=30, ge=0, le=3650)
    batch_size: int = Field(default=100, ge=1, le=10_000)
    csv: CsvSettings = CsvSettings()
    table: TableSettings = TableSettings()
    http: HttpSettings = HttpSettings()


def load_enrichment(path: str | Path | None = None) -> EnrichmentConfig:
    return load_yaml_model(path or DEFAULT_CONFIG_DIR / "enrichment.yaml", EnrichmentConfig)


def build_provider(
    cfg: EnrichmentConfig,
    warehouse: Warehouse | None = None,
    *,
    base_dir: str | Path | None = None,
    base_url: str | None = None,
    token: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> FirmographicsProvider:
    """The provider `cfg` names.

    csv: `cfg.csv.path`, relative to `base_dir` (default: the DuckDB warehouse's folder,
    else the working directory). table: needs `warehouse`. http: `base_url` / `token`
    arguments (from an Airflow connection), else HANDOFF_ENRICH_URL / HANDOFF_ENRICH_TOKEN
    in `environ` (default os.environ), else `cfg.http.base_url` for the URL.
    """
    if cfg.provider == "csv":
        path = Path(cfg.csv.path)
        if not path.is_absolute():
            if base_dir is None and warehouse is not None and warehouse.dialect == "duckdb":
                base_dir = Path(warehouse.url.removeprefix("duckdb:///")).parent
            path = Path(base_dir or ".") / path
        return CsvProvider(path)
    if cfg.provider == "table":
        if warehouse is None:
            raise EnrichmentError("the table firmographics provider needs a warehouse")
        return TableProvider(warehouse, cfg.table.name)
    env = os.environ if environ is None else environ
    url = base_url or env.get(ENV_URL) or cfg.http.base_url
    key = token or env.get(ENV_TOKEN)
    if not url:
        raise EnrichmentError(
            f"the http firmographics provider needs a URL: set the connection's host or {ENV_URL}"
        )
    if not key:
        raise EnrichmentError(
            f"the http firmographics provider needs a token: set the connection's password "
            f"or {ENV_TOKEN}"
        )
    h = cfg.http
    return HttpProvider(
        url,
        key,
        requests_per_second=h.requests_per_second,
        timeout=h.timeout_seconds,
        max_retries=h.max_retries,
        backoff_initial=h.backoff_initial_seconds,
        backoff_max=h.backoff_max_seconds,
        max_retry_after=h.max_retry_after_seconds,
    )
