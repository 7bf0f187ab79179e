"""Pull outcomes back from the CRM incrementally: dispositions, tasks and deals, by object,
each from its own persisted watermark.

For each object the pull reads everything modified at or after (watermark - lag), upserts
it by (destination, crm_id) into crm_accounts / crm_tasks / crm_deals and moves the watermark
to the newest modification read, in one transaction: the watermark only advances together
with the rows it covers, and a failed pull leaves both as they were. The lag re-reads a short
overlap so that a change committed late with an earlier timestamp (HubSpot's search index
lags writes by seconds; a long Salesforce transaction commits after its SystemModstamp) is
still read; re-read records replace their own rows, so a rerun never duplicates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from handoff.outcomes.changes import Changes
from handoff.outcomes.tables import ensure_tables, read_watermark, upsert, write_watermark
from handoff.sync.mapping import CrmMapping
from handoff.warehouse import Warehouse, naive_utc

log = logging.getLogger(__name__)

DEFAULT_LAG = timedelta(minutes=5)
Kind = Literal["account", "task", "deal"]
KINDS: tuple[Kind, ...] = ("account", "task", "deal")
CRM_OBJECTS = {
    "hubspot": {"account": "companies", "task": "tasks", "deal": "deals"},
    "salesforce": {"account": "Account", "task": "Task", "deal": "Opportunity"},
}


class ChangeReader(Protocol):
    name: str

    def pull(self, kind: str, since: datetime | None, wh: Warehouse) -> Changes: ...


@dataclass
class ObjectPull:
    object: str  # the CRM object (companies, Account, ...)
    read: int  # records read from the CRM
    written: int  # rows upserted (full and partial)
    since: datetime | None  # the window start (watermark - lag), CRM clock
    watermark: datetime | None  # the watermark after the pull


@dataclass
class PullSummary:
    destination: str
    objects: dict[str, ObjectPull] = field(default_factory=dict)
    api_calls: int = 0  # HTTP requests this pull made
    seconds: float = 0.0

    @property
    def records_read(self) -> int:
        return sum(o.read for o in self.objects.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "records_read": self.records_read,
            "api_calls": self.api_calls,
            "seconds": round(self.seconds, 3),
            "objects": {
                kind: {
                    "object": o.object,
                    "read": o.read,
                    "written": o.written,
                    "since": o.since.isoformat() if o.since else None,
                    "watermark": o.watermark.isoformat() if o.watermark else None,
                }
                for kind, o in self.objects.items()
            },
        }


def change_reader(destination: Any, mapping: CrmMapping, crm: str | None = None, **opts: Any):
    """The reader for `destination` (a HubSpotDestination or SalesforceDestination)."""
    crm = crm or getattr(destination, "name", None)
    if crm == "hubspot":
        from handoff.outcomes.hubspot_pull import HubSpotChanges

        return HubSpotChanges(destination, mapping, **opts)
    if crm == "salesforce":
        from handoff.outcomes.salesforce_pull import SalesforceChanges

        return SalesforceChanges(destination, mapping, **opts)
    raise ValueError(f"pull_outcomes: unknown CRM {crm!r}; expected hubspot or salesforce")


def pull_outcomes(
    wh: Warehouse,
    destination: Any,
    mapping: CrmMapping,
    crm: str | None = None,
    now: datetime | None = None,
    *,
    lag: timedelta = DEFAULT_LAG,
    kinds: tuple[Kind, ...] = KINDS,
    reader: ChangeReader | None = None,
    **reader_options: Any,
) -> PullSummary:
    """Pull dispositions, tasks and deals changed since each object's watermark from
    `destination` (HubSpotDestination / SalesforceDestination) into the warehouse.

    `now` stamps `pulled_at` (default: the wall clock). `reader_options` go to the CRM's
    reader (HubSpot: `search_cap`, `page_size`). Returns what was read per object, the API
    calls made and the new watermarks.
    """
    reader = reader or change_reader(destination, mapping, crm, **reader_options)
    name = reader.name
    pulled_at = naive_utc(now or datetime.now(UTC))
    calls_before = int(getattr(destination, "api_calls", 0))
    started = time.monotonic()
    ensure_tables(wh)
    summary = PullSummary(destination=name)
    for kind in kinds:
        obj = CRM_OBJECTS[name][kind]
        mark = read_watermark(wh, name, obj)
        since = mark - lag if mark is not None else None
        changes = reader.pull(kind, since, wh)
        for row in [*changes.rows, *changes.partial]:
            row["pulled_at"] = pulled_at
        with wh.transaction():
            written = upsert(wh, changes.table, name, changes.rows)
            written += upsert(wh, changes.table, name, changes.partial, keep=changes.keep)
            new_mark = max([m for m in (mark, changes.watermark) if m is not None], default=None)
            if new_mark is not None:
                write_watermark(wh, name, obj, new_mark, pulled_at, changes.read)
        summary.objects[kind] = ObjectPull(obj, changes.read, written, since, new_mark)
        log.info(
            "pulled %s %s: %d read, %d rows written, since %s, watermark %s",
            name,
            obj,
            changes.read,
            written,
            since.isoformat() if since else "the beginning",
            new_mark.isoformat() if new_mark else "none",
        )
    summary.api_calls = int(getattr(destination, "api_calls", 0)) - calls_before
    summary.seconds = time.monotonic() - started
    log.info(
        "pulled outcomes from %s: %d records in %d API calls (%.1fs)",
        name,
        summary.records_read,
        summary.api_calls,
        summary.seconds,
    )
    return summary
