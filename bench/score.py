"""Benchmark: features + scoring on the sample warehouse, beside a bare DuckDB scan.

    .venv/bin/python bench/score.py [--sizes medium large]

Each measurement runs in a fresh process so peak memory (max RSS) is its own. The figure
that matters is the ratio: features + scoring time over the time of one bare scan of the
same events. Warehouses are generated once under data/bench/ and reused.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
END = datetime(2026, 11, 1)
BARE_SCAN = """
    SELECT count(*) AS events, count(DISTINCT user_id) AS users,
           count(DISTINCT event_name) AS names, sum(value) AS total, max(occurred_at) AS last
    FROM events
"""


def measure(path: str, what: str) -> dict:
    from handoff.config import load_model, load_source
    from handoff.features import extract_features
    from handoff.scoring import score_snapshot
    from handoff.warehouse import Warehouse

    with Warehouse(path) as wh:
        t0 = time.perf_counter()
        if what == "scan":
            wh.query(BARE_SCAN)
            out = {"seconds": time.perf_counter() - t0}
        else:
            counts = extract_features(wh, load_source(), END)
            t1 = time.perf_counter()
            summary = score_snapshot(wh, load_model("pql_default"), END)
            t2 = time.perf_counter()
            out = {
                "seconds": t2 - t0,
                "features_s": t1 - t0,
                "scoring_s": t2 - t1,
                "users": counts.users,
                "accounts": counts.accounts,
                "tiers": summary.account_tier_counts,
                "scored": summary.users + summary.accounts,
            }
        out["events"] = int(wh.scalar("SELECT count(*) FROM events"))
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def ensure_sample(size: str) -> Path:
    from handoff.sample import SampleSpec, generate

    path = ROOT / "data" / "bench" / f"{size}.duckdb"
    if not path.exists():
        t0 = time.perf_counter()
        summary = generate(path, SampleSpec.of_size(size, end=END))
        print(
            f"generated {size}: {summary.accounts:,} accounts, {summary.users:,} users, "
            f"{summary.events:,} events in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    return path


def child(path: Path, what: str) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, "--measure", what, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["medium", "large"])
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    ap.add_argument("--measure", nargs=2, metavar=("WHAT", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[1], args.measure[0]), default=str))
        return
    rows = []
    for size in args.sizes:
        path = ensure_sample(size)
        scan = min((child(path, "scan") for _ in range(args.repeat)), key=lambda r: r["seconds"])
        full = min((child(path, "score") for _ in range(args.repeat)), key=lambda r: r["seconds"])
        rows.append((size, scan, full))
    print(
        f"\n{'size':8s} {'events':>12s} {'users':>9s} {'scan s':>8s} {'feat s':>8s} "
        f"{'score s':>8s} {'total s':>8s} {'ratio':>7s} {'scan MB':>8s} {'peak MB':>8s} "
        f"{'scored':>9s}"
    )
    for size, scan, full in rows:
        print(
            f"{size:8s} {full['events']:12,d} {full['users']:9,d} {scan['seconds']:8.2f} "
            f"{full['features_s']:8.2f} {full['scoring_s']:8.2f} {full['seconds']:8.2f} "
            f"{full['seconds'] / scan['seconds']:6.1f}x {scan['peak_mb']:8.0f} {full['peak_mb']:8.0f} "
            f"{full['scored']:9,d}"
        )
    print("ratio = (features + scoring) / one bare DuckDB scan of the same events; best of runs")
    print("scored = users + accounts written to score_history by the timed run")


if __name__ == "__main__":
    main()
