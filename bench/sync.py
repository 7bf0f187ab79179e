"""Benchmark: CRM sync of the sample's accounts against the sandbox, for HubSpot and Salesforce.

    .venv/bin/python bench/sync.py [--size large] [--crm hubspot salesforce] [--change 0.01]

Per CRM, on a fresh sandbox in its own process (`crm-sandbox`, HubSpot limited to 190
requests per 10 s) and a fresh copy of the prepared warehouse: provision the fields, the
initial sync of every account, a rerun with nothing changed (no write calls expected), then
a rerun after `--change` of the accounts changed (their PQA score in score_history, so the
snapshot's hash changes). Printed per run: records, sent, API calls (the adapter's count and
the sandbox's request log), calls per 1,000 records sent, wall time, the floor the rate
limit allows (calls / 19 per s) and wall / floor; then where the time went.

The warehouse is generated and run through the daily stages (enrich, extract, score,
triggers, route, context) once per size, seed and generator version under data/bench/sync/
and reused. Each CRM is measured in a fresh process, so peak RSS is the sync's own.
Benchmarks print figures; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "bench" / "sync"
END = datetime(2026, 11, 1)  # as bench/score.py: a fixed as_of, so the sample is reusable
RATE = 190  # HubSpot private apps, Professional / Enterprise: requests per 10 s
WINDOW_S = 10.0
STAGES = ("enrich", "extract", "score", "triggers", "route", "context")
CRMS = ("hubspot", "salesforce")


# --- the prepared warehouse ------------------------------------------------------------------


def accounts_of(size: str) -> int:
    from handoff.sample import SIZES

    return SIZES[size] if size in SIZES else int(size)


def prepared_dir(size: str, seed: int) -> Path:
    from handoff.sample import GENERATOR_VERSION

    return DATA / f"{accounts_of(size)}-g{GENERATOR_VERSION}-s{seed}"


def prepare(folder: Path, size: str, seed: int) -> dict:
    """Generate the sample, then run the daily stages for END, each in its own process as
    Airflow runs its tasks."""
    from handoff.sample import GENERATOR_VERSION, SampleSpec, generate
    from handoff.warehouse import Warehouse

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "warehouse.duckdb"
    path.unlink(missing_ok=True)
    timings = {}
    t0 = time.perf_counter()
    summary = generate(path, SampleSpec(accounts=accounts_of(size), seed=seed, end=END))
    timings["generate"] = time.perf_counter() - t0
    notes = []
    for stage in STAGES:
        t0 = time.perf_counter()
        out = child(["--stage", stage, str(path)])
        if stage == "extract" and out["users"] and not out["accounts"]:
            raise SystemExit(f"extract wrote 0 accounts for {out['users']:,} users")
        timings[stage] = time.perf_counter() - t0
    with Warehouse(str(path)) as wh:
        scored = int(wh.scalar("SELECT count(*) FROM score_history WHERE entity_type = 'account'"))
    marker = {
        "accounts": summary.accounts,
        "users": summary.users,
        "events": summary.events,
        "scored_accounts": scored,
        "seed": seed,
        "end": END.isoformat(),
        "generator": GENERATOR_VERSION,
        "seconds": timings,
        "notes": notes,
    }
    (folder / "ready.json").write_text(json.dumps(marker, indent=1))
    return marker


def run_stage(stage: str, path: str) -> dict:
    from handoff import pipeline

    return json.loads(json.dumps(getattr(pipeline, f"{stage}_stage")(path, END), default=str))


def ensure_prepared(size: str, seed: int) -> Path:
    folder = prepared_dir(size, seed)
    if not (folder / "ready.json").exists():
        print(
            f"preparing the {size} sample in {folder} (once; reused by later runs) ...", flush=True
        )
        marker = child(["--prepare", size, str(seed), str(folder)])
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in marker["seconds"].items())
        for note in marker.get("notes", []):
            print(f"  note: {note}", flush=True)
        print(
            f"  {marker['accounts']:,} accounts ({marker['scored_accounts']:,} scored), "
            f"{marker['users']:,} users, "
            f"{marker['events']:,} events: {steps}",
            flush=True,
        )
    return folder


# --- the sandbox, in its own process ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sandbox:
    """`crm-sandbox` in a subprocess (its own interpreter and GIL), state in memory."""

    def __init__(self, workdir: Path, rate: int) -> None:
        import requests

        self.port = _free_port()
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.token = "sandbox-token"
        state_dir = workdir / "sandbox"
        self.ca_bundle = str(state_dir / "ca.pem")
        self._log = open(workdir / "sandbox.log", "w")  # noqa: SIM115 - closed in stop()
        cmd = [
            sys.executable, "-m", "crm_sandbox.cli", "--port", str(self.port),
            "--state-dir", str(state_dir), "--token", self.token,
            "--hubspot-rate-limit", str(rate), "--log-level", "warning",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        self.http = requests.Session()
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"crm-sandbox exited; see {workdir / 'sandbox.log'}")
            try:
                if Path(self.ca_bundle).exists():
                    self.http.verify = self.ca_bundle
                    self.http.get(f"{self.base_url}/_sandbox/health", timeout=2).raise_for_status()
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("crm-sandbox did not answer within 60 s")
            time.sleep(0.2)

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, f"{self.base_url}/_sandbox/{path}", timeout=120, **kw)
        r.raise_for_status()
        return r.json()

    def next_index(self) -> int:
        return int(self.admin("GET", "requests", params={"since": 1 << 60})["next_index"])

    def requests_since(self, since: int) -> list[dict]:
        return self.admin("GET", "requests", params={"since": since})["requests"]

    def cpu_seconds(self) -> float:
        """User + system CPU of the sandbox process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# --- measuring one CRM -----------------------------------------------------------------------


class Timers:
    """Seconds spent inside wrapped functions, by name (bench-side instrumentation only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

        return timed

    def take(self) -> dict[str, float]:
        out, self.seconds = self.seconds, {}
        return out


def instrument(timers: Timers, dest: Any) -> None:
    """Time the phases of run_sync and the adapter's HTTP and pacing, without changing them."""
    from handoff.sync import run

    for name in ("build_snapshot", "mapped_records", "read_state", "open_dead_letters"):
        setattr(run, name, timers.wrap(name, getattr(run, name)))
    run.commit_results = timers.wrap("commit_results", run.commit_results)
    dest.upsert = timers.wrap("upsert", dest.upsert)
    if hasattr(dest, "_pace"):  # HubSpot: the sleep that keeps requests under the limit
        dest._pace = timers.wrap("pacing", dest._pace)


def accounts_only(mapping: Any) -> Any:
    """The mapping with its account object alone: the benchmark measures account records
    (PQL users and rep tasks are synced too in production, as objects of their own)."""
    return mapping.model_copy(update={"objects": {"account": mapping.account}})


def change_accounts(url: str, model_version: str, share: float) -> int:
    """Raise the PQA score of `share` of the latest snapshot's accounts by one point in
    score_history (the table the sync snapshot reads); a deterministic pick by md5."""
    from handoff.scoring import SCORE_HISTORY_TABLE
    from handoff.sync.snapshot import latest_as_of
    from handoff.warehouse import Warehouse, literal

    with Warehouse(url) as wh:
        as_of = latest_as_of(wh, model_version)
        where = (
            f"entity_type = 'account' AND as_of = {literal(as_of)} "
            f"AND model_version = {literal(model_version)}"
        )
        total = int(wh.scalar(f"SELECT count(*) FROM {SCORE_HISTORY_TABLE} WHERE {where}"))
        n = round(total * share)
        wh.execute(
            f"UPDATE {SCORE_HISTORY_TABLE} SET score = score + 1 WHERE {where} AND entity_id IN "
            f"(SELECT entity_id FROM {SCORE_HISTORY_TABLE} WHERE {where} "
            f"ORDER BY md5(entity_id) LIMIT {n})"
        )
    return n


def make_destination(crm: str, sandbox: Sandbox) -> Any:
    if crm == "hubspot":
        from handoff.crm.hubspot import HubSpotDestination

        return HubSpotDestination(sandbox.token, host=sandbox.base_url, ca_bundle=sandbox.ca_bundle)
    from handoff.crm.salesforce import SalesforceDestination

    return SalesforceDestination.connect(
        sandbox.base_url, sandbox.token, ca_bundle=sandbox.ca_bundle, version="62.0"
    )


def measure(crm: str, folder: Path, change: float, rate: int, profile: int = 0) -> dict:
    """Provision, initial sync, no-change rerun, changed rerun: one row each."""
    from handoff.config import load_model
    from handoff.sync.mapping import load_mapping
    from handoff.sync.run import run_sync
    from handoff.warehouse import Warehouse

    model = load_model("pql_default")
    mapping = load_mapping()
    workdir = Path(tempfile.mkdtemp(prefix=f"handoff-bench-sync-{crm}-"))
    url = str(workdir / "warehouse.duckdb")
    t0 = time.perf_counter()
    shutil.copy(folder / "warehouse.duckdb", url)
    copy_s = time.perf_counter() - t0
    sandbox = Sandbox(workdir, rate)
    rows: list[dict] = []
    try:
        settings = sandbox.admin("GET", "settings")
        dest = make_destination(crm, sandbox)
        timers = Timers()
        instrument(timers, dest)
        mapping = accounts_only(mapping)
        obj, group, specs = (
            mapping.account.object(crm),
            mapping.group.name,
            mapping.account.specs(crm),
        )

        def run(label: str, fn: Any) -> Any:
            if crm == "hubspot" and rows:
                time.sleep(settings["hubspot_window_ms"] / 1000 + 0.5)  # an empty window
            since = sandbox.next_index()
            calls, cpu, sb_cpu = dest.api_calls, time.process_time(), sandbox.cpu_seconds()
            timers.take()
            prof = cProfile.Profile() if profile else None
            t0 = time.perf_counter()
            if prof is not None:
                prof.enable()
            out = fn()
            if prof is not None:
                prof.disable()
            wall = time.perf_counter() - t0
            if prof is not None:
                print(
                    f"\n--- profile: {crm}, {label} ({wall:.1f} s, under cProfile) ---",
                    file=sys.stderr,
                )
                pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(profile)
            log = sandbox.requests_since(since)
            row = {
                "run": label,
                "wall": wall,
                "calls": dest.api_calls - calls,
                "log_calls": len(log),
                "log_429": sum(r["status"] == 429 for r in log),
                "log_records": sum(r.get("records") or 0 for r in log),
                "server_ms": sum(r.get("duration_ms") or 0 for r in log),
                "client_cpu": time.process_time() - cpu,
                "sandbox_cpu": sandbox.cpu_seconds() - sb_cpu,
                "phases": timers.take(),
                "sf_usage": list(getattr(dest, "api_usage", None) or []),
                "hs_daily": dict(getattr(dest, "rate_limit", {}) or {}),
            }
            rows.append(row)
            return out, row

        _, row = run("provision", lambda: dest.provision(obj, group, specs))
        row["fields"] = len(specs)

        def sync() -> Any:
            with Warehouse(url) as wh:
                return run_sync(
                    wh=wh, destination=dest, model=model, mapping=mapping, crm=crm, tasks=False
                ).objects["account"]

        for label in ("initial", "no change", f"{change:.0%} changed"):
            if label.endswith("changed"):
                n = change_accounts(url, model.model_version, change)
                print(f"  [{crm}] changed {n:,} accounts", file=sys.stderr, flush=True)
            summary, row = run(label, sync)
            row.update(
                records=summary.records, sent=summary.sent, created=summary.created,
                updated=summary.updated, failed=summary.failed, unchanged=summary.unchanged,
                summary_calls=summary.api_calls,
            )  # fmt: skip
            print(
                f"  [{crm}] {label}: {summary.sent:,} sent, {row['calls']:,} calls, "
                f"{row['wall']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        sandbox_rss = sandbox.peak_rss_mb()
    finally:
        sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "crm": crm,
        "rows": rows,
        "copy_s": copy_s,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sandbox_peak_mb": sandbox_rss,
        "rate": settings.get("hubspot_rate_limit"),
        "window_ms": settings.get("hubspot_window_ms"),
        "sf_daily_limit": settings.get("salesforce_daily_limit"),
    }


# --- driver ----------------------------------------------------------------------------------


def child(args: list[str]) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, check=True
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


@contextmanager
def _quiet_logs() -> Any:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    yield


def report(results: list[dict], size: str, rate: int) -> None:
    per_s = rate / WINDOW_S
    print(
        f"\nsync benchmark: {size} sample, sandbox in its own process, HubSpot limit "
        f"{rate} requests / {WINDOW_S:.0f} s (floor = calls / {per_s:g} per s)\n"
    )
    print(
        "| crm | run | records | sent | created | updated | failed | calls | log calls "
        "| 429s | calls / 1k sent | wall s | floor s | wall / floor |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: | ---: |")  # fmt: skip
    for res in results:
        for r in res["rows"]:
            floor = r["calls"] / per_s
            per_k = f"{1000 * r['calls'] / r['sent']:.2f}" if r.get("sent") else "-"
            ratio = f"{r['wall'] / floor:.2f}x" if floor else "-"
            records = f"{r['fields']} fields" if "fields" in r else f"{r['records']:,}"
            sent = f"{r['sent']:,}" if "sent" in r else "-"
            print(
                f"| {res['crm']} | {r['run']} | {records} | {sent} "
                f"| {r.get('created', '-')} | {r.get('updated', '-')} | {r.get('failed', '-')} "
                f"| {r['calls']:,} | {r['log_calls']:,} | {r['log_429']} | {per_k} "
                f"| {r['wall']:.2f} | {floor:.2f} | {ratio} |"
            )
    print("\nwhere the time went (seconds; phases of run_sync timed from the bench):\n")
    print(
        "| crm | run | wall | snapshot | map + hash | state read | upsert (HTTP) | of which "
        "pacing | commit state | other | client CPU | sandbox CPU | sandbox handlers |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: |")  # fmt: skip
    for res in results:
        for r in res["rows"]:
            p = r["phases"]
            state = p.get("read_state", 0) + p.get("open_dead_letters", 0)
            upsert = p.get("upsert", 0)
            known = (
                p.get("build_snapshot", 0) + p.get("mapped_records", 0) + state + upsert
                + p.get("commit_results", 0)
            )  # fmt: skip
            other = r["wall"] - known if r["run"] != "provision" else 0.0
            print(
                f"| {res['crm']} | {r['run']} | {r['wall']:.2f} | {p.get('build_snapshot', 0):.2f} "
                f"| {p.get('mapped_records', 0):.2f} | {state:.2f} | {upsert:.2f} "
                f"| {p.get('pacing', 0):.2f} | {p.get('commit_results', 0):.2f} | {other:.2f} "
                f"| {r['client_cpu']:.2f} | {r['sandbox_cpu']:.2f} | {r['server_ms'] / 1000:.2f} |"
            )
    print()
    for res in results:
        line = (
            f"{res['crm']}: bench process peak RSS {res['peak_mb']:,.0f} MB, sandbox peak RSS "
            f"{res['sandbox_peak_mb']:,.0f} MB, warehouse copy {res['copy_s']:.1f} s (untimed)"
        )
        last = res["rows"][-1]
        if res["crm"] == "salesforce" and last["sf_usage"]:
            used, total = last["sf_usage"]
            line += f"; daily API allowance used {used:,} of {total:,} ({used / total:.2%})"
        if res["crm"] == "hubspot" and last["hs_daily"].get("daily"):
            d = last["hs_daily"]
            line += (
                f"; daily limit used {d['daily'] - d.get('daily-remaining', 0):,} of {d['daily']:,}"
            )
        print(line)
    print(
        "calls: the adapter's count (= SyncSummary.api_calls); log calls: the sandbox's request "
        "log for the same run (429s included)\n"
        "floor: the time the HubSpot limit needs for that many calls; for Salesforce, which the "
        "sandbox does not rate-limit, the same limit as a yardstick\n"
        "HubSpot runs start on an empty rate-limit window (the bench waits one window between "
        "runs, untimed); provisioning is timed on its own row"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--size", default="large", help="small | medium | large or a number of accounts"
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--crm", nargs="+", choices=CRMS, default=list(CRMS))
    ap.add_argument("--change", type=float, default=0.01, help="share of accounts changed")
    ap.add_argument("--rate", type=int, default=RATE, help="HubSpot requests per 10 s")
    ap.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="run each step under cProfile and print its top N functions (slows it down)",
    )
    ap.add_argument("--stage", nargs=2, metavar=("STAGE", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--prepare", nargs=3, metavar=("SIZE", "SEED", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--measure", nargs=2, metavar=("CRM", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        with _quiet_logs():
            print(json.dumps(run_stage(*args.stage)))
        return
    if args.prepare:
        with _quiet_logs():
            marker = prepare(Path(args.prepare[2]), args.prepare[0], int(args.prepare[1]))
        print(json.dumps(marker))
        return
    if args.measure:
        with _quiet_logs():
            out = measure(
                args.measure[0], Path(args.measure[1]), args.change, args.rate, args.profile
            )
        print(json.dumps(out, default=str))
        return
    folder = ensure_prepared(args.size, args.seed)
    results = []
    for crm in args.crm:
        print(f"measuring {crm} ...", flush=True)
        argv = ["--measure", crm, str(folder), "--change", str(args.change)]
        argv += ["--rate", str(args.rate), "--profile", str(args.profile)]
        results.append(child(argv))
    report(results, args.size, args.rate)


if __name__ == "__main__":
    main()
