"""Test-wide set-up. Airflow reads its configuration at import time, so the environment is
set here, before anything imports airflow."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="handoff-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.pop("HANDOFF_WAREHOUSE_URL", None)

SAMPLE_END = datetime(2026, 11, 1)
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small seeded sample warehouse (read-only for tests: copy it before writing)."""
    from handoff.sample import SampleSpec, generate

    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    generate(path, SampleSpec(accounts=150, seed=7, end=SAMPLE_END, days=120))
    return path


@pytest.fixture
def sample_copy(sample_path: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "warehouse.duckdb"
    shutil.copy(sample_path, dest)
    shutil.copy(sample_path.parent / "firmographics.csv", tmp_path / "firmographics.csv")
    return dest


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The PostgreSQL server for integration tests.

    HANDOFF_TEST_POSTGRES_URL overrides the local default. Under CI (CI=true) an unreachable
    server fails the run; elsewhere the tests that need it are skipped with instructions.
    """
    import psycopg

    url = os.environ.get("HANDOFF_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        msg = (
            f"PostgreSQL not reachable at {url} ({exc}). Start a server or set "
            "HANDOFF_TEST_POSTGRES_URL=postgresql://user@host:port/db to run these tests."
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return url


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh schema on the test server, dropped afterwards; the URL selects it."""
    import psycopg

    schema = f"handoff_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg_server_url else "?"
    yield f"{pg_server_url}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def scored_template(sample_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample scored, triggered, routed and packaged for two days (built once)."""
    from handoff.pipeline import (
        context_stage,
        extract_stage,
        route_stage,
        score_stage,
        triggers_stage,
    )

    path = tmp_path_factory.mktemp("scored") / "scored.duckdb"
    shutil.copy(sample_path, path)
    for day in (SAMPLE_END - timedelta(days=1), SAMPLE_END):
        extract_stage(str(path), day)
        score_stage(str(path), day)
        triggers_stage(str(path), day)
        route_stage(str(path), day)
        context_stage(str(path), day)
    return path


@pytest.fixture
def scored(scored_template: Path, tmp_path: Path) -> str:
    dest = tmp_path / "scored.duckdb"
    shutil.copy(scored_template, dest)
    return str(dest)
