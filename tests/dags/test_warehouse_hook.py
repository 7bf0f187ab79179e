"""The handoff_warehouse connection becomes a warehouse URL, with secrets kept out of logs."""

from __future__ import annotations

import json
import logging

import airflow  # noqa: F401  (importing airflow puts plugins/ on sys.path, as deployed)
import pytest


def hook_url(monkeypatch: pytest.MonkeyPatch, conn: str | None) -> str:
    from handoff_airflow.hooks import HandoffWarehouseHook

    if conn is None:
        monkeypatch.delenv("AIRFLOW_CONN_HANDOFF_WAREHOUSE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_HANDOFF_WAREHOUSE", conn)
    return HandoffWarehouseHook().get_url()


def test_duckdb_connection_json_and_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    as_json = json.dumps({"conn_type": "duckdb", "host": "/data/w.duckdb"})
    assert hook_url(monkeypatch, as_json) == "/data/w.duckdb"
    as_uri = "duckdb://?path=%2Fopt%2Fhandoff%2Fdata%2Fwarehouse.duckdb"  # docker-compose form
    assert hook_url(monkeypatch, as_uri) == "/opt/handoff/data/warehouse.duckdb"


def test_postgres_connection_keeps_password_out_of_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = hook_url(monkeypatch, "postgres://etl:s3cr%40t@db.internal:5433/analytics")
    assert url == "postgresql://etl:s3cr%40t@db.internal:5433/analytics"
    assert "s3cr" not in caplog.text
    assert "etl:***@db.internal" in caplog.text


def test_without_connection_falls_back_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_WAREHOUSE_URL", "/tmp/fallback.duckdb")
    assert hook_url(monkeypatch, None) == "/tmp/fallback.duckdb"


def test_unsupported_connection_type_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unsupported conn_type 'mysql'"):
        hook_url(monkeypatch, json.dumps({"conn_type": "mysql", "host": "x"}))


def test_enrichment_credentials_from_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from handoff_airflow.hooks import enrichment_credentials

    monkeypatch.delenv("AIRFLOW_CONN_HANDOFF_ENRICHMENT", raising=False)
    assert enrichment_credentials() == (None, None)
    monkeypatch.setenv(
        "AIRFLOW_CONN_HANDOFF_ENRICHMENT",
        json.dumps({"conn_type": "http", "host": "company.example.com", "password": "tok"}),
    )
    assert enrichment_credentials() == ("https://company.example.com", "tok")
    monkeypatch.setenv(
        "AIRFLOW_CONN_HANDOFF_ENRICHMENT",
        json.dumps({"conn_type": "http", "host": "http://127.0.0.1:8099", "password": "t"}),
    )
    assert enrichment_credentials() == ("http://127.0.0.1:8099", "t")
