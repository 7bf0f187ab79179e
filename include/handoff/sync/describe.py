"""A sync run in a few readable lines: for the CLI, the DAG log and the demo."""

from __future__ import annotations

from handoff.sync.run import SyncSummary


def describe(summary: SyncSummary, preview_rows: int = 20) -> str:
    head = f"{'dry run: ' if summary.dry_run else ''}sync to {summary.destination}"
    if summary.skipped_reason:
        return f"{head}: skipped ({summary.skipped_reason})"
    lines = [
        f"{head}, snapshot {summary.as_of:%Y-%m-%d %H:%M} UTC, model {summary.model_version}, "
        f"{summary.api_calls} API calls"
    ]
    for o in summary.objects.values():
        line = (
            f"  {o.object:10s} {o.records:7,d} records: {o.sent:,} sent "
            f"({o.created:,} created, {o.updated:,} updated), {o.unchanged:,} unchanged, "
            f"{o.failed:,} failed"
        )
        if o.retried:
            line += f", {o.retried:,} retried"
        if o.dead_lettered:
            line += f", {o.dead_lettered:,} new dead letters"
        if o.pending:
            line += f", {o.pending:,} waiting for their account"
        lines.append(line)
    if summary.dry_run:
        keys = {(p["object"], p["key"]) for p in summary.preview}
        lines.append(f"  would change {len(summary.preview):,} fields on {len(keys):,} records:")
        for p in summary.preview[:preview_rows]:
            lines.append(
                f"    {p['object']} {p['key']}: {p['field']}: {p['old']!r} -> {p['new']!r}"
            )
        if len(summary.preview) > preview_rows:
            lines.append(f"    ... {len(summary.preview) - preview_rows:,} more (use --json)")
    return "\n".join(lines)


def _short(value: object, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
