"""handoff_score: imports cleanly, schedules real daily intervals, and runs end to end."""

from __future__ import annotations

import itertools
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
    chain = ["enrich", "extract", "score", "triggers", "route", "context"]
    assert set(dag.task_ids) == set(chain)
    for upstream, downstream in itertools.pairwise(chain):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    # the asset is updated only when the whole snapshot (scores ... packages) is written
    assert [a.name for a in dag.get_task("context").outlets] == ["scores"]
    assert dag.get_task("score").outlets == []


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
        per_day = {
            table: wh.query(f"SELECT {col} AS as_of, count(*) AS n FROM {table} GROUP BY 1")
            for table, col in (
                ("trigger_evaluations", "as_of"),
                ("routing_decisions", "as_of"),
                ("context_packages", "as_of"),
            )
        }
        enriched = wh.scalar("SELECT count(*) FROM firmographics WHERE status = 'found'")
    assert sorted(set(counts["as_of"])) == sorted(runs)
    assert (counts["n"] > 0).all()
    assert set(counts["entity_type"]) == {"user", "account"}
    assert enriched > 100
    for table, frame in per_day.items():
        assert sorted(frame["as_of"]) == sorted(runs), table
    assert (per_day["context_packages"]["n"] > 0).all()
