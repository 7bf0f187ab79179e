"""`handoff`: generate the sample warehouse, inspect features, validate config, score, sync to
the CRM, pull outcomes back, calibrate."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handoff.errors import HandoffError

DEFAULT_WAREHOUSE = "data/warehouse.duckdb"


def default_warehouse() -> str:
    if url := os.environ.get("HANDOFF_WAREHOUSE_URL"):
        return url
    home = os.environ.get("HANDOFF_HOME")
    return str(Path(home) / "warehouse.duckdb") if home else DEFAULT_WAREHOUSE


def _as_of(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    ts = datetime.fromisoformat(text)
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def cmd_generate(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from handoff.sample import SampleSpec, generate

    kw = {"seed": args.seed, "days": args.days}
    if args.end:
        kw["end"] = _as_of(args.end)
    spec = SampleSpec.of_size(args.size, **kw)
    out = Path(args.out)
    if out.exists():
        out.unlink()
    with Progress(
        TextColumn("[bold]generating[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} accounts and individuals"),
        TimeElapsedColumn(),
        disable=args.quiet,
    ) as bar:
        task = bar.add_task(f"{args.size} sample", total=spec.accounts)
        summary = generate(
            out, spec, lambda done, total: bar.update(task, completed=done, total=total)
        )
    print(
        f"wrote {summary.path}: {summary.accounts:,} accounts, {summary.users:,} users "
        f"({summary.freemail_users:,} on personal mail), {summary.events:,} events, "
        f"{summary.start:%Y-%m-%d} to {summary.end:%Y-%m-%d}"
    )
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from handoff.features import ACCOUNT_FEATURES, USER_FEATURES

    for title, cat in (("user features", USER_FEATURES), ("account features", ACCOUNT_FEATURES)):
        print(f"{title}:")
        for name, desc in cat.items():
            print(f"  {name:30s} {desc}")
    print("account features also carry the firmographic columns mapped in source.yaml")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from handoff.config import load_model, load_source
    from handoff.features import ACCOUNT_FEATURES, USER_FEATURES
    from handoff.scoring.engine import check_features

    src = load_source(args.source)
    for path in args.model or ["pql_default"]:
        model = load_model(path)
        account_cols = set(ACCOUNT_FEATURES) | set(src.accounts.firmographics) | {"as_of"}
        skipped, _ = check_features(model, set(USER_FEATURES) | {"as_of"}, account_cols, path)
        note = f" (skipped: {', '.join(skipped)})" if skipped else ""
        print(f"ok: {path}: {model.model_version}, {len(model.signals)} signals{note}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from handoff.pipeline import extract_stage, score_stage, top_accounts

    as_of = _as_of(args.as_of)
    url = args.warehouse
    feats = extract_stage(url, as_of, args.source)
    summary = score_stage(url, as_of, args.model)
    if args.json:
        print(json.dumps({"features": feats, "scores": summary}, indent=2, default=str))
        return 0
    print(f"as of {as_of:%Y-%m-%d %H:%M} UTC, model {summary['model_version']}")
    print(f"  users scored {summary['users']:,}: {summary['user_status_counts']}")
    print(f"  accounts scored {summary['accounts']:,}: {summary['account_tier_counts']}")
    top = top_accounts(url, as_of, summary["model_version"], args.top)
    for row in top.itertuples():
        reasons = "; ".join(r["label"] for r in row.reasons[:3])
        print(f"  {row.score:9.1f}  {row.status:8s} {row.account:28s} {reasons}")
    return 0


def _destination(args: argparse.Namespace) -> Any:
    from handoff.crm.connect import (
        DEFAULT_CONN_IDS,
        connection_from_env,
        hubspot_destination,
        salesforce_destination,
    )
    from handoff.sync.mapping import load_mapping

    conn = connection_from_env(args.conn_id or DEFAULT_CONN_IDS[args.crm])
    account_key = load_mapping(args.mapping).account.key(args.crm).name(args.crm) or ""
    if args.crm == "hubspot":
        return hubspot_destination(conn, company_key_field=account_key)
    return salesforce_destination(conn, account_key_field=account_key)


def cmd_outcomes(args: argparse.Namespace) -> int:
    from handoff.pipeline import outcomes_stage

    summary = outcomes_stage(
        args.warehouse, _destination(args), args.crm, mapping_path=args.mapping
    )
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    pull = summary["pull"]
    print(
        f"pulled from {args.crm}: {pull['records_read']:,} records, {pull['api_calls']} API calls"
    )
    for kind, o in pull["objects"].items():
        print(f"  {kind:12s} {o['read']:6,d} read, watermark {o['watermark']}")
    print(
        f"handoff_outcomes: {summary['handoffs']:,} handoffs ({summary['routed']:,} routed, "
        f"{summary['holdout']:,} holdout): {summary['touched']:,} touched, "
        f"{summary['accepted']:,} of {summary['dispositioned']:,} dispositions accepted, "
        f"{summary['opportunities']:,} opportunities, {summary['won']:,} won"
    )
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from handoff.pipeline import calibrate_stage

    summary = calibrate_stage(
        args.warehouse, args.out, args.model, args.target, args.horizon_days, args.config
    )
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2, default=str))
        return 0
    from handoff.calibration.describe import describe_calibration

    print(describe_calibration(summary.as_dict()))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from handoff.pipeline import sync_stage
    from handoff.sync.describe import describe

    destination = _destination(args)
    with Progress(
        TextColumn("[bold]{task.description}[/]"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} records"),
        TimeElapsedColumn(),
        disable=args.quiet or args.json,
    ) as bar:
        task = bar.add_task(f"{'previewing' if args.dry_run else 'syncing'} {args.crm}", total=0)
        summary = sync_stage(
            args.warehouse,
            destination,
            args.crm,
            as_of=_as_of(args.as_of) if args.as_of else None,
            dry_run=args.dry_run,
            model_path=args.model,
            mapping_path=args.mapping,
            provision=not args.no_provision,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(summary), indent=2, default=str))
    else:
        print(describe(summary))
    return 1 if summary.total("failed") else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="handoff", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write the seeded sample warehouse (DuckDB)")
    g.add_argument("--size", choices=["small", "medium", "large"], default="small")
    g.add_argument("--out", default=default_warehouse())
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--days", type=int, default=180, help="days of history")
    g.add_argument("--end", help="end of the history (ISO date, UTC; default: today)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=cmd_generate)

    f = sub.add_parser("features", help="list the features a model can use")
    f.set_defaults(func=cmd_features)

    v = sub.add_parser("validate", help="validate source mapping and scoring models")
    v.add_argument("--source", help="source mapping YAML (default include/config/source.yaml)")
    v.add_argument("model", nargs="*", help="model names or YAML paths")
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("score", help="extract features and score as of a time")
    s.add_argument("--warehouse", default=default_warehouse(), help="DuckDB path or postgres URL")
    s.add_argument("--as-of", help="ISO time (UTC); default: today 00:00")
    s.add_argument("--model", help="model name or YAML path (default pql_default)")
    s.add_argument("--source", help="source mapping YAML")
    s.add_argument("--top", type=int, default=10)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_score)

    y = sub.add_parser(
        "sync",
        help="push the latest scores, reasons, context and rep tasks to HubSpot or Salesforce",
        description="Reads the CRM connection from AIRFLOW_CONN_HUBSPOT_DEFAULT / "
        "AIRFLOW_CONN_SALESFORCE_DEFAULT (Airflow's JSON connection format). Exit status 1 "
        "when the CRM rejected records (they are in the dead_letter table).",
    )
    y.add_argument("--crm", choices=["hubspot", "salesforce"],
                   default=os.environ.get("HANDOFF_CRM", "hubspot"))  # fmt: skip
    y.add_argument("--conn-id", help="connection id (default hubspot_default / salesforce_default)")
    y.add_argument("--warehouse", default=default_warehouse(), help="DuckDB path or postgres URL")
    y.add_argument("--as-of", help="the snapshot meant (refused unless it is the latest)")
    y.add_argument("--dry-run", action="store_true", help="preview field changes; write nothing")
    y.add_argument("--model", help="model name or YAML path (default pql_default)")
    y.add_argument("--mapping", help="CRM mapping YAML (default include/config/crm_mapping.yaml)")
    y.add_argument("--no-provision", action="store_true", help="skip creating missing fields")
    y.add_argument("--json", action="store_true", help="the full summary and preview as JSON")
    y.add_argument("--quiet", action="store_true", help="no progress bar")
    y.set_defaults(func=cmd_sync)

    o = sub.add_parser(
        "outcomes",
        help="pull dispositions, touches and deals back from the CRM; rebuild handoff_outcomes",
    )
    o.add_argument("--crm", choices=["hubspot", "salesforce"],
                   default=os.environ.get("HANDOFF_CRM", "hubspot"))  # fmt: skip
    o.add_argument("--conn-id", help="connection id (default hubspot_default / salesforce_default)")
    o.add_argument("--warehouse", default=default_warehouse(), help="DuckDB path or postgres URL")
    o.add_argument("--mapping", help="CRM mapping YAML (default include/config/crm_mapping.yaml)")
    o.add_argument("--json", action="store_true")
    o.set_defaults(func=cmd_outcomes)

    c = sub.add_parser(
        "calibrate",
        help="funnel metrics, lift over holdout, model calibration: HTML report + proposed YAML",
    )
    c.add_argument("--warehouse", default=default_warehouse(), help="DuckDB path or postgres URL")
    c.add_argument("--model", help="model name or YAML path (default pql_default)")
    c.add_argument(
        "--target", choices=["accepted", "opportunity", "won", "self_serve", "converted"]
    )
    c.add_argument("--horizon-days", type=int, help="default: calibration.yaml")
    c.add_argument("--config", help="calibration YAML (default include/config/calibration.yaml)")
    c.add_argument("--out", default=str(Path(default_warehouse()).parent / "reports"),
                   help="where the report and the proposed model go")  # fmt: skip
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_calibrate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except HandoffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
