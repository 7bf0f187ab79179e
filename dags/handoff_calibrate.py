"""handoff_calibrate: weekly, measure the handoff motion and recalibrate the model.

Reads handoff_outcomes and score_history: funnel metrics per period, tier, segment,
trigger and owner; accept rate against seed 004's 60-75% band; time-to-touch; SLA
compliance; lift of routed accounts over the holdout with its interval. Fits the model's
signals to later outcomes (include/config/calibration.yaml) and writes the HTML report and a
proposed model YAML under $HANDOFF_HOME/reports. The proposal is never applied: RevOps
review it and copy it to include/config/models/ when they agree.

Wiring only: everything lives in handoff.calibration and handoff.report.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable


def reports_dir() -> Path:
    return Path(os.environ.get("HANDOFF_HOME", "data")) / "reports"


@dag(
    dag_id="handoff_calibrate",
    schedule=CronTriggerTimetable("0 6 * * 1", timezone="UTC"),  # Mondays 06:00 UTC
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "model": Param(os.environ.get("HANDOFF_MODEL", "pql_default"), type="string"),
        "target": Param(
            "",
            type="string",
            description="accepted | opportunity | won | self_serve | converted (default: calibration.yaml)",
        ),
        "horizon_days": Param(0, type="integer", minimum=0, description="0: calibration.yaml"),
    },
    tags=["handoff"],
    doc_md=__doc__,
)
def handoff_calibrate():
    @task
    def calibrate() -> dict:
        from handoff_airflow.hooks import HandoffWarehouseHook

        from handoff.pipeline import calibrate_stage

        params = get_current_context()["params"]
        summary = calibrate_stage(
            HandoffWarehouseHook().get_url(),
            reports_dir(),
            model_path=params["model"],
            target=params["target"] or None,
            horizon_days=params["horizon_days"] or None,
        )
        return summary.as_dict()

    calibrate()


handoff_calibrate()
