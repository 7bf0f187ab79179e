"""handoff_sync: push the latest scores, reasons, context packages and rep tasks to the CRM.

Scheduled on the `scores` asset that handoff_score updates. A run triggered by a backfilled
(past) snapshot pushes nothing: only the latest snapshot ever reaches the CRM. Every CRM call
runs in the `crm_api` pool, so syncs never overlap on one portal / org. Params: crm (hubspot
or salesforce; default $HANDOFF_CRM), conn_id, dry_run (preview in the log, write nothing).

Wiring only: provisioning and sync live in handoff.sync; connections in handoff_airflow.crm.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from datetime import datetime

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task
from handoff_airflow.crm import crm_params

SCORES = Asset(name="scores", uri="handoff://warehouse/score_history")
CRM_POOL = "crm_api"
PREVIEW_IN_XCOM = 50  # the full preview is in the task log

log = logging.getLogger(__name__)


def _snapshot_as_of() -> datetime | None:
    """The as_of of the scores event that triggered this run (None for a manual run)."""
    events = get_current_context().get("triggering_asset_events") or {}
    latest = None
    for asset_events in events.values():
        for event in asset_events:
            value = (event.extra or {}).get("as_of")
            if value:
                moment = datetime.fromisoformat(value)
                latest = moment if latest is None or moment > latest else latest
    return latest


def _destination():
    from handoff_airflow.crm import crm_destination

    from handoff.sync.mapping import load_mapping

    params = get_current_context()["params"]
    return crm_destination(params["crm"], load_mapping(), params["conn_id"] or None)


def _warehouse() -> str:
    from handoff_airflow.hooks import HandoffWarehouseHook

    return HandoffWarehouseHook().get_url()


@dag(
    dag_id="handoff_sync",
    schedule=[SCORES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        **crm_params(),
        "dry_run": Param(False, type="boolean", description="preview the changes; write nothing"),
        "model": Param(os.environ.get("HANDOFF_MODEL", "pql_default"), type="string"),
    },
    tags=["handoff"],
    doc_md=__doc__,
)
def handoff_sync():
    @task(pool=CRM_POOL)
    def provision() -> dict:
        from handoff.config import load_model
        from handoff.sync.mapping import load_mapping
        from handoff.sync.provision import provision_mapping
        from handoff.sync.snapshot import latest_as_of
        from handoff.warehouse import Warehouse

        params = get_current_context()["params"]
        if params["dry_run"]:
            return {"skipped": "dry run"}
        snapshot = _snapshot_as_of()
        with Warehouse(_warehouse()) as wh:
            latest = latest_as_of(wh, load_model(params["model"]).model_version)
        if snapshot is not None and snapshot != latest:
            return {"skipped": f"backfilled snapshot {snapshot:%Y-%m-%d}; latest is {latest}"}
        results = provision_mapping(_destination(), load_mapping(), params["crm"])
        return {
            obj: {"created": r.created, "existing": len(r.existing)} for obj, r in results.items()
        }

    @task(pool=CRM_POOL)
    def sync(provisioned: dict) -> dict:
        from handoff.pipeline import sync_stage
        from handoff.sync.describe import describe

        params = get_current_context()["params"]
        summary = sync_stage(
            _warehouse(),
            _destination(),
            params["crm"],
            as_of=_snapshot_as_of(),
            dry_run=params["dry_run"],
            model_path=params["model"],
            provision=False,
        )
        log.info("%s", describe(summary, preview_rows=1000))
        out = asdict(summary)
        out["preview"] = out["preview"][:PREVIEW_IN_XCOM]
        if summary.total("failed"):
            log.warning(
                "%d records rejected by %s: see the dead_letter table; they are retried on "
                "every run until they succeed", summary.total("failed"), summary.destination,
            )  # fmt: skip
        return out

    sync(provision())


handoff_sync()
