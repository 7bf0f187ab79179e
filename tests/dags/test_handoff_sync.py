"""handoff_sync: scheduled on the scores asset, CRM calls in the crm_api pool, and a run
through Airflow (dag.test) with the connection hubspot_default pushing to the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from crm_sandbox.server import SandboxServer, running_sandbox
from handoff.warehouse import Warehouse
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_sync_dag_shape(dagbag) -> None:
    dag = dagbag.dags["handoff_sync"]
    produced = dagbag.dags["handoff_score"].get_task("context").outlets
    assert list(dag.timetable.asset_condition.objects) == produced  # runs when scores land
    assert dag.get_task("provision").downstream_task_ids == {"sync"}
    assert {dag.get_task(t).pool for t in dag.task_ids} == {"crm_api"}
    assert dag.max_active_runs == 1
    assert set(dag.params.keys()) >= {"crm", "dry_run", "conn_id", "model"}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(port=0, seed=3) as server:
        yield server


@pytest.mark.slow
def test_dag_test_syncs_the_latest_snapshot_to_hubspot(
    dagbag, scored: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    from airflow.utils.state import DagRunState

    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    monkeypatch.setenv(
        "AIRFLOW_CONN_HANDOFF_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": scored})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_DEFAULT",
        json.dumps(
            {
                "conn_type": "http",
                "host": sandbox.base_url,
                "password": sandbox.token,
                "extra": {"ca_bundle": sandbox.ca_bundle},
            }
        ),
    )
    dag = dagbag.dags["handoff_sync"]
    from datetime import UTC, datetime, timedelta

    first = datetime.now(UTC)
    run = dag.test(run_after=first, run_conf={"crm": "hubspot"})
    assert run.state == DagRunState.SUCCESS
    with Warehouse(scored) as wh:
        runs = wh.query("SELECT object, sent, failed FROM sync_runs")
        synced = wh.scalar("SELECT count(*) FROM sync_state WHERE object = 'companies'")
        wh.execute("UPDATE score_history SET score = score + 1 WHERE entity_type = 'account'")
    assert synced > 100
    assert runs["failed"].sum() == 0 and set(runs["object"]) == {"companies", "contacts", "tasks"}
    upserts = sandbox.requests(path="/crm/v3/objects/companies/batch/upsert")
    assert len(upserts) == -(-synced // 100)  # 100 records per call

    # a dry run (DAG param) previews the changed scores and writes nothing
    sandbox.admin("DELETE", "requests")
    dag = dagbag.dags["handoff_sync"]
    preview = dag.test(
        run_after=first + timedelta(seconds=1), run_conf={"crm": "hubspot", "dry_run": True}
    )
    assert preview.state == DagRunState.SUCCESS
    assert sandbox.requests(path="/crm/v3/objects/companies/batch/upsert") == []
    assert {r["method"] for r in sandbox.requests()} <= {"GET", "POST"}  # reads only
    with Warehouse(scored) as wh:
        dry = wh.query("SELECT object, sent FROM sync_runs WHERE dry_run")
    assert len(dry) == 3 and dry["sent"].sum() == 0
