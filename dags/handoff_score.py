"""handoff_score: daily enrichment -> features -> PQL/PQA scores -> triggers -> routing ->
context packages, all for one as_of; updates the `scores` asset when the snapshot is whole.

Wiring only: the stages live in handoff.pipeline. Runs on real daily data intervals
(backfillable); as_of is the end of the data interval, or the run time for manual runs.
"""

from __future__ import annotations

import os
from datetime import datetime

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

SCORES = Asset(name="scores", uri="handoff://warehouse/score_history")


def _as_of() -> datetime:
    ctx = get_current_context()
    end = ctx.get("data_interval_end") or ctx["dag_run"].run_after
    return pendulum.instance(end).in_timezone("UTC").naive()


def _warehouse() -> str:
    from handoff_airflow.hooks import HandoffWarehouseHook

    return HandoffWarehouseHook().get_url()


def _model() -> str:
    return get_current_context()["params"]["model"]


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
    def enrich() -> dict:
        from handoff_airflow.hooks import enrichment_credentials

        from handoff.pipeline import enrich_stage

        base_url, token = enrichment_credentials()
        return enrich_stage(_warehouse(), _as_of(), base_url=base_url, token=token)

    @task
    def extract(enriched: dict) -> dict:
        from handoff.pipeline import extract_stage

        return extract_stage(_warehouse(), _as_of())

    @task
    def score(features: dict) -> dict:
        from handoff.pipeline import score_stage

        return score_stage(_warehouse(), _as_of(), _model())

    @task
    def triggers(scores: dict) -> dict:
        from handoff.pipeline import triggers_stage

        return triggers_stage(_warehouse(), _as_of(), _model())

    @task
    def route(fired: dict) -> dict:
        from handoff.pipeline import route_stage

        return route_stage(_warehouse(), _as_of(), _model())

    @task(outlets=[SCORES])
    def context(routed: dict) -> dict:
        from handoff.pipeline import context_stage

        as_of = _as_of()
        summary = context_stage(_warehouse(), as_of, _model())
        # handoff_sync reads which snapshot this is: a backfilled one never reaches the CRM
        get_current_context()["outlet_events"][SCORES].extra = {
            "as_of": as_of.isoformat(),
            "model": _model(),
        }
        return summary

    context(route(triggers(score(extract(enrich())))))


handoff_score()
