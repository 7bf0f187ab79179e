"""`crm-sandbox`: run the HubSpot- and Salesforce-compatible sandbox over HTTPS."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import uvicorn

from crm_sandbox.settings import DEFAULT_TOKEN, LIVE_DEFAULTS, SandboxSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-sandbox",
        description="A local, stateful HubSpot- and Salesforce-compatible API server (HTTPS).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--state-file", type=Path, help="persist state to this JSON file")
    parser.add_argument(
        "--state-dir", type=Path, help="CA and certificates (default: beside --state-file)"
    )
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="Bearer token clients must send")
    parser.add_argument("--seed", type=int, default=0, help="seed for faults and simulated reps")
    faults = parser.add_argument_group("faults (rates are probabilities per request)")
    faults.add_argument("--fault-429", type=float, default=0.0, dest="rate_429")
    faults.add_argument("--fault-5xx", type=float, default=0.0, dest="rate_5xx")
    faults.add_argument("--fault-423", type=float, default=0.0, dest="rate_423")
    faults.add_argument("--fault-slow", type=float, default=0.0, dest="rate_slow")
    faults.add_argument("--fault-slow-seconds", type=float, default=2.0, dest="slow_seconds")
    faults.add_argument("--fault-drop", type=float, default=0.0, dest="rate_drop")
    faults.add_argument(
        "--fault-record",
        type=float,
        default=0.0,
        dest="record_fail_rate",
        help="share of records that fail validation",
    )
    faults.add_argument("--fault-path-prefix", default=None, dest="path_prefix")
    hubspot = parser.add_argument_group("HubSpot limits")
    hubspot.add_argument(
        "--hubspot-rate-limit",
        type=int,
        default=LIVE_DEFAULTS["hubspot_rate_limit"],
        help="requests per 10-second rolling window (default 190)",
    )
    hubspot.add_argument(
        "--hubspot-daily-limit",
        type=int,
        default=LIVE_DEFAULTS["hubspot_daily_limit"],
        help="requests per (simulated) day",
    )
    reps = parser.add_argument_group("simulated reps")
    reps.add_argument("--sim-reps", action="store_true", help="let simulated reps act")
    reps.add_argument(
        "--propensity-file", type=Path, help="CSV domain,propensity (hidden truth for reps)"
    )
    parser.add_argument("--log-level", default="info")
    return parser


def settings_from_args(args: argparse.Namespace) -> SandboxSettings:
    fault_keys = (
        "rate_429",
        "rate_5xx",
        "rate_423",
        "rate_slow",
        "slow_seconds",
        "rate_drop",
        "record_fail_rate",
        "path_prefix",
    )
    faults: dict[str, Any] = {k: getattr(args, k) for k in fault_keys}
    faults = {k: v for k, v in faults.items() if v not in (None, 0.0) or k == "slow_seconds"}
    live: dict[str, Any] = {
        "hubspot_rate_limit": args.hubspot_rate_limit,
        "hubspot_daily_limit": args.hubspot_daily_limit,
        "sim_reps": bool(args.sim_reps),
        "propensity_file": str(args.propensity_file) if args.propensity_file else None,
    }
    return SandboxSettings(
        token=args.token,
        seed=args.seed,
        state_file=args.state_file,
        state_dir=args.state_dir,
        faults=faults,
        live=live,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    from crm_sandbox.server import prepare, uvicorn_config

    settings = settings_from_args(args)
    if settings.state_dir is None and settings.state_file is None:
        settings.state_dir = Path(".sandbox")
    try:
        tls, app = prepare(settings)
    except ValueError as exc:
        print(f"crm-sandbox: {exc}", file=sys.stderr)
        return 2
    base_url = f"https://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    print(f"CRM sandbox on {base_url}", flush=True)
    print(f"  token:      {settings.token}", flush=True)
    print(f"  CA bundle:  {tls.ca_bundle}", flush=True)
    print(f"  state file: {settings.state_file or '(in memory)'}", flush=True)
    print(f"  admin:      {base_url}/_sandbox/health", flush=True)
    server = uvicorn.Server(
        uvicorn_config(app, tls, args.host, args.port, log_level=args.log_level.lower())
    )
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
