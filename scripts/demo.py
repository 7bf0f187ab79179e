"""`make demo`: sample warehouse -> Airflow DAG handoff_score (dag.test on SQLite) -> summary.

Safe to rerun: the sample is regenerated only when its size changes, the Airflow metadata
DB is migrated in place, and a rerun of the DAG replaces its score_history slice.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="small", choices=["small", "medium", "large"])
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

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

    step("1/3", f"sample product warehouse ({args.size}) at {warehouse}")
    if not warehouse.exists() or not marker.exists() or json.loads(marker.read_text()) != wanted:
        run([sys.executable, "-m", "handoff.cli", "generate", "--size", args.size,
             "--seed", str(args.seed), "--end", end.date().isoformat(), "--out", str(warehouse)])  # fmt: skip
        marker.write_text(json.dumps(wanted))
    else:
        print("  up to date (delete it, or change SIZE, to regenerate)")

    step("2/3", "Airflow metadata DB (SQLite) at " + os.environ.get("AIRFLOW_HOME", "?"))
    run(["airflow", "db", "migrate"], quiet=True)

    step("3/3", "DAG handoff_score via dag.test()")
    os.environ["AIRFLOW_CONN_HANDOFF_WAREHOUSE"] = json.dumps(
        {"conn_type": "duckdb", "host": str(warehouse)}
    )
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
        return 1
    dag = bag.dags["handoff_score"]
    # the daily run whose data interval ends at the end of the sample history
    dag_run = dag.test(logical_date=end.replace(tzinfo=UTC))
    if dag_run.state != DagRunState.SUCCESS:
        print(f"\nhandoff_score ended {dag_run.state}: see the task logs above", file=sys.stderr)
        return 1
    as_of = dag_run.data_interval_end.astimezone(UTC).replace(tzinfo=None)
    summarize(str(warehouse), as_of, time.monotonic() - t0)
    return 0


def summarize(warehouse: str, as_of: datetime, seconds: float) -> None:
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
