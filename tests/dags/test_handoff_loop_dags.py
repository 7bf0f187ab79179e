"""handoff_outcomes and handoff_calibrate: schedules, pools, and a run of both through
Airflow (dag.test) against the sandbox after simulated reps worked the handoffs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm_sandbox.server import SandboxServer, running_sandbox
from handoff.warehouse import Warehouse
from tests.conftest import ROOT, SAMPLE_END


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_outcomes_and_calibrate_dag_shapes(dagbag) -> None:
    from airflow.timetables.trigger import CronTriggerTimetable

    outcomes = dagbag.dags["handoff_outcomes"]
    assert isinstance(outcomes.timetable, CronTriggerTimetable) and not outcomes.catchup
    assert outcomes.get_task("pull").pool == "crm_api"
    assert [a.name for a in outcomes.get_task("pull").outlets] == ["outcomes"]
    calibrate = dagbag.dags["handoff_calibrate"]
    assert isinstance(calibrate.timetable, CronTriggerTimetable)
    assert calibrate.timetable.summary == "0 6 * * 1"  # weekly, Mondays
    assert set(calibrate.params.keys()) >= {"model", "target", "horizon_days"}


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with running_sandbox(port=0, seed=2) as server:
        server.admin("POST", "clock/set", {"now": SAMPLE_END.replace(tzinfo=UTC).isoformat()})
        yield server


@pytest.mark.slow
def test_dag_test_pulls_outcomes_and_writes_the_report(
    dagbag, scored: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.utils.state import DagRunState

    from handoff.crm.connect import connection_from_env, hubspot_destination
    from handoff.pipeline import sync_stage

    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    monkeypatch.setenv("HANDOFF_HOME", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_HANDOFF_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": scored})
    )
    conn = {
        "conn_type": "http",
        "host": sandbox.base_url,
        "password": sandbox.token,
        "extra": {"ca_bundle": sandbox.ca_bundle},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_DEFAULT", json.dumps(conn))
    dest = hubspot_destination(connection_from_env("hubspot_default"), "handoff_account_key")
    sync_stage(scored, dest, "hubspot")
    worked = sandbox.admin("POST", "reps/run", {"days": 21, "step_hours": 2})
    assert worked["touched"] > 0

    run = dagbag.dags["handoff_outcomes"].test(
        run_after=datetime.now(UTC), run_conf={"crm": "hubspot", "conn_id": ""}
    )
    assert run.state == DagRunState.SUCCESS
    with Warehouse(scored) as wh:
        touched = wh.scalar(
            "SELECT count(*) FROM handoff_outcomes WHERE first_touch_at IS NOT NULL"
        )
        marks = wh.query("SELECT object FROM pull_watermarks")
    assert touched == worked["touched"]
    assert set(marks["object"]) == {"companies", "tasks", "deals"}

    run = dagbag.dags["handoff_calibrate"].test(
        run_after=datetime.now(UTC) + timedelta(seconds=1),
        run_conf={"model": "pql_default", "target": "accepted", "horizon_days": 7},
    )
    assert run.state == DagRunState.SUCCESS
    reports = list((tmp_path / "reports").glob("handoff_report_*.html"))
    assert len(reports) == 1 and "<img" in reports[0].read_text()
    headline = json.loads(reports[0].with_suffix(".json").read_text())
    assert headline["target"] == "accepted" and headline["handoffs"] > 0
