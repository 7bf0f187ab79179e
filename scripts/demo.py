"""`make demo`: sample warehouse -> DAG handoff_score -> DAG handoff_sync into the local CRM
sandbox (both through dag.test on SQLite metadata) -> a summary of what a rep now sees.

HANDOFF_CRM=salesforce (or --crm salesforce) syncs to the sandbox's Salesforce instead of
HubSpot. Safe to rerun: the sample is regenerated only when its size changes, the Airflow
metadata DB is migrated in place, a rerun of handoff_score replaces its slice, and every run
starts a fresh sandbox CRM (saved to .sandbox/state.json for `make sandbox` to serve).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="small", choices=["small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--weeks", type=int, default=8, help="weekly snapshots to replay")
    ap.add_argument("--target", default="converted", help="calibration target")
    ap.add_argument("--horizon", type=int, default=21, help="calibration horizon in days")
    ap.add_argument(
        "--crm",
        default=os.environ.get("HANDOFF_CRM", "hubspot"),
        choices=["hubspot", "salesforce"],
    )
    ap.add_argument("--verbose", action="store_true", help="show every task's log")
    args = ap.parse_args()
    if not args.verbose:  # before airflow is imported: its config is read once
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        warnings.filterwarnings("ignore", category=DeprecationWarning)

    home = Path(os.environ.get("HANDOFF_HOME", ROOT / "data"))
    home.mkdir(parents=True, exist_ok=True)
    warehouse = home / "warehouse.duckdb"
    marker = home / "sample.json"
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    from handoff.sample import GENERATOR_VERSION

    wanted = {
        "size": args.size,
        "seed": args.seed,
        "end": end.date().isoformat(),
        "generator": GENERATOR_VERSION,
    }
    t0 = time.monotonic()

    step("1/6", f"sample product warehouse ({args.size}) at {warehouse}")
    if not warehouse.exists() or not marker.exists() or json.loads(marker.read_text()) != wanted:
        run([sys.executable, "-m", "handoff.cli", "generate", "--size", args.size,
             "--seed", str(args.seed), "--end", end.date().isoformat(), "--out", str(warehouse)])  # fmt: skip
        marker.write_text(json.dumps(wanted))
    else:
        print("  up to date (delete it, or change SIZE, to regenerate)")
    reset_handoff_tables(str(warehouse))

    step("2/6", "Airflow metadata DB (SQLite) at " + os.environ.get("AIRFLOW_HOME", "?"))
    run(["airflow", "db", "migrate"], quiet=True)
    run(["airflow", "pools", "set", "crm_api", "1", "Handoff CRM API calls"], quiet=True)
    os.environ["AIRFLOW_CONN_HANDOFF_WAREHOUSE"] = json.dumps(
        {"conn_type": "duckdb", "host": str(warehouse)}
    )
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
        return 1

    weeks = [end - timedelta(weeks=k) for k in range(args.weeks - 1, -1, -1)]
    step(
        "3/6",
        f"{len(weeks)} weekly snapshots ({weeks[0]:%Y-%m-%d} .. {weeks[-1]:%Y-%m-%d}): "
        f"handoff_score -> handoff_sync to the sandbox's {CRM_NAMES[args.crm]} -> a week of "
        "simulated reps",
    )
    with sandbox_crm(str(warehouse), args.crm, args.seed) as sb:
        for i, week in enumerate(weeks):
            as_of = run_dag(bag, "handoff_score", logical_date=week.replace(tzinfo=UTC))
            if as_of is None:
                return 1
            sb.admin("POST", "clock/set", {"now": as_of.replace(tzinfo=UTC).isoformat()})
            if run_dag(bag, "handoff_sync", run_conf={"crm": args.crm, "dry_run": False}) is None:
                return 1
            reps = {}
            if i < len(weeks) - 1:
                reps = sb.admin("POST", "reps/run", {"days": 7, "step_hours": 1})
            print("  " + week_line(str(warehouse), as_of, reps))

        step("4/6", "DAG handoff_outcomes: pull dispositions, touches and deals back")
        if run_dag(bag, "handoff_outcomes", run_conf={"crm": args.crm, "conn_id": ""}) is None:
            return 1
        step("5/6", "DAG handoff_calibrate: funnel, lift over holdout, calibration, report")
        conf = {"model": "pql_default", "target": args.target, "horizon_days": args.horizon}
        if run_dag(bag, "handoff_calibrate", run_conf=conf) is None:
            return 1

        step("6/6", "summary")
        summarize(str(warehouse), as_of)
        show_sync(str(warehouse), args.crm)
    show_loop(str(warehouse), home, args.target, args.horizon)
    where_next(str(warehouse), as_of, time.monotonic() - t0, args.crm)
    return 0


HANDOFF_TABLES = (
    "domain_map", "user_features", "account_features", "score_history",
    "trigger_evaluations", "trigger_events", "routing_decisions", "context_packages",
    "sync_state", "dead_letter", "sync_runs", "pull_watermarks", "crm_accounts",
    "crm_tasks", "crm_deals", "handoff_outcomes",
)  # fmt: skip


def reset_handoff_tables(warehouse: str) -> None:
    """Every demo replays the same weeks into a fresh sandbox CRM, so the warehouse forgets
    what Handoff wrote before (the sample and the firmographics cache stay)."""
    from handoff.warehouse import Warehouse

    with Warehouse(warehouse) as wh:
        for table in HANDOFF_TABLES:
            wh.execute(f"DROP TABLE IF EXISTS {table}")


def run_dag(bag: Any, dag_id: str, **kwargs: Any) -> datetime | None:
    """dag.test() one DAG; the end of its data interval (as_of), or None when it failed."""
    from airflow.utils.state import DagRunState

    dag_run = bag.dags[dag_id].test(**kwargs)
    if dag_run.state != DagRunState.SUCCESS:
        print(f"\n{dag_id} ended {dag_run.state}: see the task logs above", file=sys.stderr)
        return None
    end = dag_run.data_interval_end or dag_run.run_after
    return end.astimezone(UTC).replace(tzinfo=None)


@contextmanager
def sandbox_crm(warehouse: str, crm: str, seed: int) -> Iterator[Any]:
    """A fresh sandbox CRM whose users are the roster's reps and whose simulated reps win
    deals with the sample's hidden propensity; the CRM connection points at it."""
    from crm_sandbox.seeding import people_settings
    from crm_sandbox.server import running_sandbox
    from handoff.routing.config import load_roster
    from handoff.warehouse import Warehouse

    state = ROOT / ".sandbox" / "state.json"
    state.parent.mkdir(exist_ok=True)
    state.unlink(missing_ok=True)
    propensity = state.parent / "propensity.csv"
    with Warehouse(warehouse) as wh:
        wh.query("SELECT entity AS domain, propensity FROM hidden_propensity").to_csv(
            propensity, index=False
        )
    people = [(r.name, r.email) for r in load_roster().reps]
    settings = people_settings(people) | {"propensity_file": str(propensity)}
    with running_sandbox(port=0, seed=seed, state_file=state, **settings) as sb:
        extra = {"ca_bundle": sb.ca_bundle}
        if crm == "hubspot":
            conn = {"conn_type": "http", "host": sb.base_url, "password": sb.token}
        else:
            conn = {"conn_type": "salesforce", "password": sb.token}
            extra["instance_url"] = sb.base_url
        os.environ[f"AIRFLOW_CONN_{crm.upper()}_DEFAULT"] = json.dumps(conn | {"extra": extra})
        yield sb


def week_line(warehouse: str, as_of: datetime, reps: dict) -> str:
    from handoff.warehouse import Warehouse, literal

    with Warehouse(warehouse) as wh:
        routed = wh.query(
            "SELECT decision, count(*) AS n FROM routing_decisions "
            f"WHERE as_of = {literal(as_of)} AND (new_assignment OR decision = 'holdout') "
            "GROUP BY 1"
        ).set_index("decision")["n"]
        runs = wh.query(
            "SELECT object, sent, failed FROM sync_runs WHERE NOT dry_run AND run_id = "
            "(SELECT run_id FROM sync_runs ORDER BY started_at DESC LIMIT 1)"
        ).set_index("object")
    handed = f"{routed.get('routed', 0)} routed to reps, {routed.get('holdout', 0)} held out"
    sent = ", ".join(f"{r.sent:,} {obj}" for obj, r in runs.iterrows())
    line = f"{as_of:%Y-%m-%d}: {handed}; synced {sent}"
    if reps:
        counts = {k: v for k, v in reps.items() if isinstance(v, int | float) and v}
        line += "; reps: " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items())
    return line


CRM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce"}


def show_loop(warehouse: str, home: Path, target: str, horizon: int) -> None:
    """The loop's headline figures: outcomes pulled back, accept rate, lift over holdout,
    and the proposed model against the current one on held-out outcomes."""
    from handoff.warehouse import Warehouse

    with Warehouse(warehouse) as wh:
        o = wh.query("SELECT * FROM handoff_outcomes")
    routed = o[o["decision"] == "routed"]
    print("\n" + "=" * 78)
    print("The loop: what reps did with the handoffs (pulled back by handoff_outcomes)")
    print("=" * 78)
    print(
        f"  {len(routed):,} routed handoffs and {int((o['decision'] == 'holdout').sum()):,} held "
        f"out; {int(routed['first_touch_at'].notna().sum()):,} touched, "
        f"{int(routed['disposition'].notna().sum()):,} dispositioned, "
        f"{int(routed['opportunity_opened_at'].notna().sum()):,} opportunities, "
        f"{int(routed['won'].eq(True).sum()):,} won"
    )
    reports = sorted((home / "reports").glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        print("  no calibration report was written")
        return
    from handoff.calibration.describe import describe_calibration

    print(describe_calibration(json.loads(reports[-1].read_text())))


def show_sync(warehouse: str, crm: str) -> None:
    from handoff.crm.connect import connection_from_env, hubspot_destination, salesforce_destination
    from handoff.sync.mapping import load_mapping
    from handoff.warehouse import Warehouse

    mapping = load_mapping()
    with Warehouse(warehouse) as wh:
        runs = wh.query(
            "SELECT object, records, sent, created, updated, unchanged, failed, pending, "
            "api_calls FROM sync_runs WHERE run_id = (SELECT run_id FROM sync_runs "
            "WHERE NOT dry_run ORDER BY started_at DESC LIMIT 1)"
        )
        top = wh.query(
            "SELECT r.account_domain, r.episode_id FROM routing_decisions r "
            "WHERE r.decision = 'routed' AND r.as_of = (SELECT max(as_of) FROM routing_decisions) "
            "ORDER BY r.score DESC LIMIT 1"
        )
    print("\n" + "=" * 78)
    print(f"The last sync to the sandbox's {CRM_NAMES[crm]} (handoff_sync, pool crm_api)")
    print("=" * 78)
    for r in runs.itertuples():
        extra = f", {r.pending} waiting for their account" if r.pending else ""
        print(
            f"  {r.object:10s} {r.records:6,d} records: {r.created:,} created, {r.updated:,} "
            f"updated, {r.unchanged:,} unchanged, {r.failed:,} failed{extra} "
            f"({r.api_calls:,} API calls)"
        )
    if top.empty:
        return
    conn = connection_from_env(f"{crm}_default")
    account = mapping.account
    key = account.key(crm).name(crm)  # type: ignore[arg-type]
    dest = (
        hubspot_destination(conn, key) if crm == "hubspot" else salesforce_destination(conn, key)  # type: ignore[arg-type]
    )
    domain, episode = top.iat[0, 0], str(top.iat[0, 1])
    names = {f.source: f.name(crm) for f in account.fields if f.name(crm)}  # type: ignore[arg-type]
    shown = ["account_name", "pqa_score", "tier", "trigger_label", "sla_due_at", "owner_email"]
    record = dest.read(account.object(crm), key, [domain], [names[s] for s in shown])  # type: ignore[arg-type]
    print(
        f"\nWhat the rep sees on {domain} ({account.object(crm)} record, read back from the CRM):"
    )  # type: ignore[arg-type]
    for source in shown:
        print(f"  {names[source]:28s} {record.get(domain, {}).get(names[source])}")
    task_key = getattr(mapping.task_key, crm)
    if crm == "hubspot":
        task = dest.read(
            "tasks", task_key, [episode], ["hs_task_subject", "hs_timestamp", "hubspot_owner_id"]
        )
    else:
        task = dest.read("Task", task_key, [episode], ["Subject", "ActivityDate", "OwnerId"])
    for values in task.values():
        print("  and a task on it: " + ", ".join(f"{k}={v}" for k, v in values.items()))


def summarize(warehouse: str, as_of: datetime) -> None:
    from handoff.config import load_model
    from handoff.pipeline import top_accounts
    from handoff.scoring import SCORE_HISTORY_TABLE
    from handoff.warehouse import Warehouse, literal

    model = load_model(os.environ.get("HANDOFF_MODEL", "pql_default"))
    with Warehouse(warehouse) as wh:
        counts = wh.query(
            f"SELECT entity_type, status, status_label, count(*) AS n FROM {SCORE_HISTORY_TABLE} "
            f"WHERE as_of = {literal(as_of)} AND model_version = {literal(model.model_version)} "
            "GROUP BY ALL ORDER BY entity_type, status"
        )
    top = top_accounts(warehouse, as_of, model.model_version, 10)
    print("\n" + "=" * 78)
    print(f"Handoff demo: scored as of {as_of:%Y-%m-%d} 00:00 UTC with {model.model_version}")
    print("=" * 78)
    order = {
        "account": [t.name for t in model.pqa.tiers],
        "user": [s.name for s in model.pql.statuses],
    }
    for kind, title in (("account", "Accounts by PQA tier"), ("user", "Users by PQL status")):
        print(f"\n{title}:")
        rows = counts[counts.entity_type == kind].set_index("status")
        for status in order[kind]:
            if status in rows.index:
                row = rows.loc[status]
                print(f"  {row.status_label:28s} {row.n:7,d}")
    print("\nTop 10 accounts and why:")
    for i, row in enumerate(top.itertuples(), 1):
        print(f"{i:3d}. {row.account:26s} PQA {row.score:8.1f}  {row.status_label}")
        for r in row.reasons[:3]:
            when = f" at {r['at'][:16]}" if r.get("at") else ""
            who = f" ({r['users']} users)" if r.get("users", 1) > 1 else ""
            print(f"       {r['points']:+6.1f}  {r['label']} = {r['value']}{who}{when}")
    with Warehouse(warehouse) as wh:
        fired = wh.query(
            "SELECT trigger_id, count(*) AS n FROM trigger_events "
            f"WHERE fired_at = {literal(as_of)} AND model_version = {literal(model.model_version)} "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        routed = wh.query(
            "SELECT decision, count(*) AS n FROM routing_decisions "
            f"WHERE as_of = {literal(as_of)} GROUP BY 1 ORDER BY 2 DESC"
        )
        package = wh.query(
            "SELECT c.text FROM context_packages c JOIN score_history h "
            "ON h.entity_id = c.account_domain AND h.as_of = c.as_of "
            f"AND h.entity_type = 'account' AND h.model_version = {literal(model.model_version)} "
            f"WHERE c.as_of = {literal(as_of)} ORDER BY h.score DESC LIMIT 1"
        )
    print(f"\nTriggers fired ({int(fired['n'].sum()):,} new episodes):")
    for row in fired.head(8).itertuples():
        print(f"  {row.trigger_id:32s} {row.n:6,d}")
    print("\nRouting decisions:")
    for row in routed.itertuples():
        print(f"  {row.decision:12s} {row.n:6,d}")
    if not package.empty:
        print("\nThe context package of the top routed account, as its rep reads it:")
        print("-" * 78)
        print(package.iat[0, 0])
        print("-" * 78)


def where_next(warehouse: str, as_of: datetime, seconds: float, crm: str) -> None:
    print(f"\nDone in {seconds:.0f} s. Where to look next:")
    print(
        f"  warehouse      {warehouse}\n"
        "                 (score_history, trigger_events, routing_decisions, context_packages, ...)"
    )
    print(
        f"  explore        .venv/bin/handoff score --warehouse {warehouse} --as-of {as_of:%Y-%m-%d}"
    )
    print(
        "  scoring model  include/config/models/pql_default.yaml (validate: .venv/bin/handoff validate)"
    )
    print("  triggers, SLA  include/config/triggers.yaml, calendar.yaml")
    print("  routing        include/config/routing.yaml, roster.yaml, talking_points.yaml")
    print("  enrichment     include/config/enrichment.yaml, icp.yaml")
    print("  CRM mapping    include/config/crm_mapping.yaml (fields, names, types)")
    print(
        f"  the CRM        make sandbox  (serves .sandbox/state.json, the {CRM_NAMES[crm]} above, "
        "at https://127.0.0.1:8443)"
    )
    conn = (
        '{"conn_type": "http", "host": "https://127.0.0.1:8443", "password": "sandbox-token", '
        '"extra": {"ca_bundle": ".sandbox/ca.pem"}}'
        if crm == "hubspot"
        else '{"conn_type": "salesforce", "password": "sandbox-token", "extra": '
        '{"instance_url": "https://127.0.0.1:8443", "ca_bundle": ".sandbox/ca.pem"}}'
    )
    print(f"  sync by hand   export AIRFLOW_CONN_{crm.upper()}_DEFAULT='{conn}'")
    print(f"                 .venv/bin/handoff sync --crm {crm} --dry-run")
    print("  Airflow UI     make ui  (http://localhost:8080, the same metadata DB as this demo)")


def step(n: str, text: str) -> None:
    print(f"\n[{n}] {text}", flush=True)


def run(cmd: list[str], quiet: bool = False) -> None:
    res = subprocess.run(cmd, capture_output=quiet, text=True)
    if res.returncode != 0:
        if quiet:
            sys.stderr.write(res.stdout + res.stderr)
        raise SystemExit(f"command failed ({res.returncode}): {' '.join(cmd)}")


if __name__ == "__main__":
    sys.exit(main())
