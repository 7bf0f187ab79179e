"""handoff_outcomes: pull what reps did back from the CRM, and rebuild handoff_outcomes.

Every six hours: dispositions (accepted / rejected and why), first touches (completed
tasks), deals / Opportunities opened and closed won or lost, each read incrementally from a
persisted watermark (HubSpot search on the last-modified property; Salesforce SOQL on
SystemModstamp), with deleted and merged records followed. Idempotent: a rerun reads the
overlap again and upserts it. Then one row per handoff is rebuilt with what followed it,
and the `outcomes` asset is updated for handoff_calibrate and dashboards.

Wiring only: the pulls live in handoff.outcomes; connections in handoff_airflow.crm.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable
from handoff_airflow.crm import crm_params

OUTCOMES = Asset(name="outcomes", uri="handoff://warehouse/handoff_outcomes")


@dag(
    dag_id="handoff_outcomes",
    schedule=CronTriggerTimetable("15 */6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # watermarks, not intervals: one run catches up on everything
    max_active_runs=1,
    params={
        **crm_params(),
    },
    tags=["handoff"],
    doc_md=__doc__,
)
def handoff_outcomes():
    @task(pool="crm_api", outlets=[OUTCOMES])
    def pull() -> dict:
        from handoff_airflow.crm import crm_destination
        from handoff_airflow.hooks import HandoffWarehouseHook

        from handoff.pipeline import outcomes_stage
        from handoff.sync.mapping import load_mapping

        params = get_current_context()["params"]
        destination = crm_destination(params["crm"], load_mapping(), params["conn_id"] or None)
        return outcomes_stage(HandoffWarehouseHook().get_url(), destination, params["crm"])

    pull()


handoff_outcomes()
