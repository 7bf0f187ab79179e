"""The reports plugin: registered with Airflow, lists and serves reports, refuses paths
outside the reports folder and readers who are not signed in."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def plugin_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import airflow  # noqa: F401  (puts the plugins folder on sys.path)
    from handoff_airflow import reports_plugin

    monkeypatch.setenv("HANDOFF_HOME", str(tmp_path))
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "handoff_report_x_20261122.html").write_text("<h1>report</h1>")
    (tmp_path / "secret.txt").write_text("no")
    return reports_plugin


def test_plugin_is_registered_with_airflow() -> None:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    assert [a["url_prefix"] for a in apps if a["name"] == "Handoff reports"] == ["/handoff"]
    views, _ = plugins_manager._get_ui_plugins()
    assert any(v["href"] == "handoff/reports/" for v in views)
    assert not [e for e in plugins_manager.get_import_errors() if "handoff" in e]


def test_lists_and_serves_reports_to_signed_in_users(plugin_module) -> None:
    from airflow.api_fastapi.core_api.security import get_user

    app = plugin_module.app
    client = TestClient(app)
    assert client.get("/reports/").status_code == 401  # not signed in
    app.dependency_overrides[get_user] = lambda: object()
    try:
        index = client.get("/reports/")
        assert index.status_code == 200 and "handoff_report_x_20261122.html" in index.text
        page = client.get("/reports/handoff_report_x_20261122.html")
        assert page.status_code == 200 and "<h1>report</h1>" in page.text
        assert client.get("/reports/..%2Fsecret.txt").status_code == 404
        assert client.get("/reports/secret.txt").status_code == 404
    finally:
        app.dependency_overrides.clear()
