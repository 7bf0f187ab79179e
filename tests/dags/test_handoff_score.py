"""handoff_score: imports cleanly, schedules real daily intervals, and runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from handoff.warehouse import Warehouse
from tests.conftest import ROOT, SAMPLE_END


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dags_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert "handoff_score" in dagbag.dags


def test_score_dag_shape(dagbag) -> None:
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = dagbag.dags["handoff_score"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)  # real intervals: backfillable
    assert dag.max_active_runs == 1
    assert set(dag.task_ids) == {"extract", "score"}
    assert dag.get_task("extract").downstream_task_ids == {"score"}
    outlets = dag.get_task("score").outlets
    assert [a.name for a in outlets] == ["scores"]


def test_core_never_imports_airflow() -> None:
    offenders = [
        str(p)
        for p in (ROOT / "include" / "handoff").rglob("*.py")
        if any(
            line.lstrip().startswith(("import airflow", "from airflow"))
            for line in p.read_text().splitlines()
        )
    ]
    assert offenders == []


@pytest.fixture(scope="module")
def migrated_db() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.slow
def test_dag_test_scores_the_interval(
    dagbag, migrated_db, sample_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.utils.state import DagRunState

    monkeypatch.setenv(
        "AIRFLOW_CONN_HANDOFF_WAREHOUSE",
        json.dumps({"conn_type": "duckdb", "host": str(sample_copy)}),
    )
    dag = dagbag.dags["handoff_score"]
    runs = []
    for day in (SAMPLE_END, SAMPLE_END - timedelta(days=3)):  # today, then a backfilled day
        dag_run = dag.test(logical_date=day.replace(tzinfo=UTC))
        assert dag_run.state == DagRunState.SUCCESS
        runs.append(dag_run.data_interval_end.astimezone(UTC).replace(tzinfo=None))
    assert runs[0] == SAMPLE_END
    with Warehouse(sample_copy) as wh:
        counts = wh.query(
            "SELECT as_of, entity_type, count(*) AS n FROM score_history GROUP BY ALL ORDER BY ALL"
        )
    assert sorted(set(counts["as_of"])) == sorted(runs)
    assert (counts["n"] > 0).all()
    assert set(counts["entity_type"]) == {"user", "account"}
