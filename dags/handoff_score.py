"""handoff_score: daily features -> PQL/PQA scores -> score_history; updates the `scores` asset.

Wiring only: the stages live in handoff.pipeline. Runs on real daily data intervals
(backfillable); as_of is the end of the data interval, or the run time for manual runs.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

SCORES = Asset(name="scores", uri="handoff://warehouse/score_history")


def _as_of() -> str:
    ctx = get_current_context()
    end = ctx.get("data_interval_end") or ctx["dag_run"].run_after
    return pendulum.instance(end).in_timezone("UTC").naive().isoformat()


@dag(
    dag_id="handoff_score",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # DuckDB takes one writer at a time
    params={
        "model": Param(os.environ.get("HANDOFF_MODEL", "pql_default"), type="string"),
    },
    tags=["handoff"],
    doc_md=__doc__,
)
def handoff_score():
    @task
    def extract() -> dict:
        from handoff_airflow.hooks import HandoffWarehouseHook

        from handoff.pipeline import extract_stage

        return extract_stage(HandoffWarehouseHook().get_url(), _parse(_as_of()))

    @task(outlets=[SCORES])
    def score(features: dict) -> dict:
        from handoff_airflow.hooks import HandoffWarehouseHook

        from handoff.pipeline import score_stage

        ctx = get_current_context()
        return score_stage(
            HandoffWarehouseHook().get_url(), _parse(features["as_of"]), ctx["params"]["model"]
        )

    score(extract())


def _parse(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


handoff_score()
