"""Incremental reads from HubSpot: companies (disposition), tasks (first touch) and deals
(opportunities), changed since a time, through HubSpotDestination's paced, counted requests.

Changed records come from CRM search on `hs_lastmodifieddate`, sorted ascending, in a window
[since, top] whose upper end `top` is the newest modification when the pull starts (one
descending search with limit 1). Within the window pages follow `after`; the search restarts
from the last modification time seen (skipping the ids already read at exactly that time)
when the next page would cross the 10,000-result cap of search, or when the window's `total`
changes between pages (a record left or entered the window, so offsets shifted). A window
that is all one timestamp is drained by `hs_object_id` (EQ the time, GT the last id). So ties
at a boundary are neither lost nor read twice, and nothing changed after `top` is read
(the next pull gets it).

Deletes: search never returns archived records, so archived ones come from the archived
list (archivedAt since the window start). Merges: HubSpot merges companies into a new record
whose `hs_merged_object_ids` lists the old ids; those old ids are marked merged_into it.
Disposition time: the company's property history (`propertiesWithHistory` on a batch read,
50 records a call), read only for companies whose disposition changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pandas as pd

from handoff.crm.hubspot import HubSpotDestination
from handoff.outcomes.changes import Changes
from handoff.outcomes.schema import CRM_ACCOUNTS_TABLE, CRM_DEALS_TABLE, CRM_TASKS_TABLE
from handoff.outcomes.tables import existing_rows
from handoff.outcomes.times import epoch_ms, parse_crm_time
from handoff.sync.mapping import CrmMapping
from handoff.warehouse import Warehouse

log = logging.getLogger(__name__)

MODIFIED = "hs_lastmodifieddate"
MERGED_IDS = "hs_merged_object_ids"
SEARCH_CAP = 10_000  # HubSpot search answers at most 10,000 results per query
PAGE = 200  # search's largest page


def _field(mapping: CrmMapping, source: str) -> str | None:
    found = next((f for f in mapping.account.fields if f.source == source), None)
    return found.hubspot if found else None


class HubSpotChanges:
    """Reads what changed in HubSpot since a time; `pull(kind, since)` per object kind."""

    name = "hubspot"
    kinds = ("account", "task", "deal")

    def __init__(
        self,
        destination: HubSpotDestination,
        mapping: CrmMapping,
        *,
        search_cap: int = SEARCH_CAP,
        page_size: int = PAGE,
    ) -> None:
        self.dest = destination
        self.account_key = mapping.account.key("hubspot").hubspot or "handoff_account_key"
        self.disposition = _field(mapping, "disposition") or "handoff_disposition"
        self.reject_reason = _field(mapping, "reject_reason") or "handoff_reject_reason"
        self.task_key = mapping.task_key.hubspot
        self.search_cap = search_cap
        self.page_size = page_size
        self.restarts = 0  # searches restarted at the cap / on a shifted window (for tests)

    # --- the incremental search -----------------------------------------------------------
    def _search(self, obj: str, filters: list[dict], sort: str, props: list[str], **kw: Any):
        body: dict[str, Any] = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": sort, "direction": kw.pop("direction", "ASCENDING")}],
            "properties": props,
            "limit": kw.pop("limit", self.page_size),
        }
        if kw.get("after"):
            body["after"] = kw["after"]
        return self.dest.search_page(obj, body)

    def _time(self, record: dict[str, Any]) -> int:
        raw = (record.get("properties") or {}).get(MODIFIED) or record.get("updatedAt")
        moment = parse_crm_time(raw, what=f"{MODIFIED} of record {record.get('id')}")
        if moment is None:
            raise ValueError(f"record {record.get('id')} has no {MODIFIED}")
        return epoch_ms(moment)

    def modified_since(
        self, obj: str, since: datetime | None, props: list[str]
    ) -> Iterator[dict[str, Any]]:
        """Every record of `obj` modified at or after `since`, oldest first, each once."""
        props = list(dict.fromkeys([*props, MODIFIED]))
        low = (
            [{"propertyName": MODIFIED, "operator": "GTE", "value": str(epoch_ms(since))}]
            if since is not None
            else []
        )
        top_page = self._search(obj, low, MODIFIED, [MODIFIED], limit=1, direction="DESCENDING")
        if not top_page.get("results"):
            return
        top = self._time(top_page["results"][0])
        cursor = epoch_ms(since) if since else None
        seen: set[str] = set()  # ids already read whose modification time is `cursor`
        while True:
            filters = [{"propertyName": MODIFIED, "operator": "LTE", "value": str(top)}]
            if cursor is not None:
                filters.append({"propertyName": MODIFIED, "operator": "GTE", "value": str(cursor)})
            after: str | None = None
            total: int | None = None
            last: int | None = None
            last_ids: set[str] = set()
            restart = False
            while True:
                page = self._search(obj, filters, MODIFIED, props, after=after)
                if total is None:
                    total = page.get("total")
                elif page.get("total") != total:
                    restart = True  # the window changed under us: offsets may have shifted
                for record in page.get("results") or []:
                    moment = self._time(record)
                    rid = str(record.get("id"))
                    if moment == last:
                        last_ids.add(rid)
                    else:
                        last, last_ids = moment, {rid}
                    if moment == cursor and rid in seen:
                        continue
                    yield record
                if restart:
                    break
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    return
                if not str(after).isdigit() or int(after) >= self.search_cap:
                    restart = True  # the next page would be past the cap of search
                    break
            self.restarts += 1
            if last is None:
                return
            if last == cursor:  # a whole window of one timestamp: drain it by id
                yield from self._ties(obj, last, props, seen | last_ids)
                cursor, seen = last + 1, set()
            else:
                cursor, seen = last, last_ids
            log.info("HubSpot %s search restarted from %s (cap or shifted window)", obj, cursor)

    def _ties(self, obj: str, moment: int, props: list[str], seen: set[str]) -> Iterator[dict]:
        """The records modified at exactly `moment` (epoch ms), by ascending id."""
        low_id: int | None = None
        while True:
            filters = [{"propertyName": MODIFIED, "operator": "EQ", "value": str(moment)}]
            if low_id is not None:
                filters.append(
                    {"propertyName": "hs_object_id", "operator": "GT", "value": str(low_id)}
                )
            after: str | None = None
            while True:
                page = self._search(obj, filters, "hs_object_id", props, after=after)
                for record in page.get("results") or []:
                    rid = str(record.get("id"))
                    low_id = max(low_id or 0, int(rid)) if rid.isdigit() else low_id
                    if rid not in seen:
                        seen.add(rid)
                        yield record
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    return
                if not str(after).isdigit() or int(after) >= self.search_cap:
                    self.restarts += 1
                    break

    def archived_since(
        self, obj: str, since: datetime | None, props: list[str]
    ) -> Iterator[dict[str, Any]]:
        """Archived records of `obj` whose archivedAt is at or after `since`."""
        after: str | None = None
        while True:
            page = self.dest.archived_page(obj, props, after)
            for record in page.get("results") or []:
                at = parse_crm_time(record.get("archivedAt"), what=f"archivedAt of {obj}")
                if since is None or at is None or at >= since:
                    yield record
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    # --- objects --------------------------------------------------------------------------
    def pull(self, kind: str, since: datetime | None, wh: Warehouse) -> Changes:
        return {"account": self._companies, "task": self._tasks, "deal": self._deals}[kind](
            since, wh
        )

    @staticmethod
    def _base(record: dict[str, Any], created: str) -> dict[str, Any]:
        p = record.get("properties") or {}
        rid = record.get("id")
        return {
            "crm_id": str(rid),
            "created_at": parse_crm_time(
                p.get(created) or record.get("createdAt"), what=f"{created} of {rid}"
            ),
            "modified_at": parse_crm_time(
                p.get(MODIFIED) or record.get("updatedAt"), what=f"{MODIFIED} of {rid}"
            ),
            "is_deleted": bool(record.get("archived")),
            "deleted_at": parse_crm_time(record.get("archivedAt"), what=f"archivedAt of {rid}"),
        }

    def _watermark(self, records: list[dict[str, Any]]) -> datetime | None:
        times = [parse_crm_time((r.get("properties") or {}).get(MODIFIED)) for r in records]
        times = [t for t in times if t is not None]
        return max(times) if times else None

    def _companies(self, since: datetime | None, wh: Warehouse) -> Changes:
        props = [self.account_key, self.disposition, self.reject_reason, MERGED_IDS, "createdate"]
        changed = list(self.modified_since("companies", since, props))
        archived = list(self.archived_since("companies", since, props))
        out = Changes(CRM_ACCOUNTS_TABLE, watermark=self._watermark(changed))
        out.read = len(changed) + len(archived)
        out.keep = (
            "account_key",
            "disposition",
            "reject_reason",
            "disposition_at",
            "merged_into",
            "created_at",
            "modified_at",
        )
        rows: dict[str, dict[str, Any]] = {}
        for record in changed:
            p = record.get("properties") or {}
            row = self._base(record, "createdate")
            row.update(
                account_key=p.get(self.account_key),
                disposition=p.get(self.disposition) or None,
                reject_reason=p.get(self.reject_reason) or None,
            )
            rows[row["crm_id"]] = row
            for loser in (p.get(MERGED_IDS) or "").split(";"):
                if loser.strip() and loser.strip() != row["crm_id"]:
                    out.partial.append(
                        {
                            "crm_id": loser.strip(),
                            "merged_into": row["crm_id"],
                            "is_deleted": True,
                            "deleted_at": row["modified_at"],
                        }
                    )
        self._disposition_times(rows, wh)
        out.rows = list(rows.values())
        for record in archived:
            row = self._base(record, "createdate")
            row["is_deleted"] = True
            out.partial.append({k: row[k] for k in ("crm_id", "is_deleted", "deleted_at")})
        return out

    def _disposition_times(self, rows: dict[str, dict[str, Any]], wh: Warehouse) -> None:
        """disposition_at: kept when the disposition did not change, else from history."""
        stored = existing_rows(wh, CRM_ACCOUNTS_TABLE, self.name, list(rows))
        known = {
            str(r["crm_id"]): (r["disposition"], r["disposition_at"])
            for r in stored.to_dict("records")
        }
        need: list[str] = []
        for rid, row in rows.items():
            old = known.get(rid)
            if row["disposition"] is None:
                row["disposition_at"] = None
            elif old is not None and old[0] == row["disposition"] and not pd.isna(old[1]):
                row["disposition_at"] = pd.Timestamp(old[1]).to_pydatetime()
            else:
                need.append(rid)
        if not need:
            return
        for record in self.dest.read_by_ids(
            "companies", need, [self.disposition], with_history=[self.disposition]
        ):
            row = rows.get(str(record.get("id")))
            if row is None:
                continue
            history = (record.get("propertiesWithHistory") or {}).get(self.disposition) or []
            row["disposition_at"] = set_since(history, row["disposition"])
        for rid in need:  # no history answered (e.g. a merged id): the change was seen now
            rows[rid].setdefault("disposition_at", rows[rid]["modified_at"])
            if rows[rid]["disposition_at"] is None:
                rows[rid]["disposition_at"] = rows[rid]["modified_at"]

    def _associated(self, obj: str, ids: list[str]) -> dict[str, str]:
        """record id -> the first associated company id."""
        found = self.dest.associated_ids(obj, "companies", ids) if ids else {}
        return {rid: targets[0] for rid, targets in found.items() if targets}

    def _tasks(self, since: datetime | None, wh: Warehouse) -> Changes:
        props = [
            self.task_key,
            "hs_task_status",
            "hs_task_completion_date",
            "hs_timestamp",
            "hs_createdate",
        ]
        changed = list(self.modified_since("tasks", since, props))
        archived = list(self.archived_since("tasks", since, props))
        out = Changes(CRM_TASKS_TABLE, watermark=self._watermark(changed))
        out.read = len(changed) + len(archived)
        out.keep = ("account_crm_id",)
        company = self._associated("tasks", [str(r["id"]) for r in changed])
        for record in [*changed, *archived]:
            p = record.get("properties") or {}
            row = self._base(record, "hs_createdate")
            status = p.get("hs_task_status")
            done = status == "COMPLETED"
            rid = row["crm_id"]
            completed = parse_crm_time(
                p.get("hs_task_completion_date"), what=f"hs_task_completion_date of task {rid}"
            )
            row.update(
                task_key=p.get(self.task_key) or None,
                account_crm_id=company.get(row["crm_id"]),
                status=status,
                is_completed=done,
                # completion time as HubSpot records it; a completed task without one
                # (imported, legacy) falls back to its last modification
                completed_at=(completed or row["modified_at"]) if done else None,
                due_at=parse_crm_time(p.get("hs_timestamp"), what=f"hs_timestamp of task {rid}"),
            )
            (out.partial if row["is_deleted"] else out.rows).append(row)
        return out

    def _deals(self, since: datetime | None, wh: Warehouse) -> Changes:
        props = ["dealname", "dealstage", "pipeline", "amount", "createdate", "closedate"]
        changed = list(self.modified_since("deals", since, props))
        archived = list(self.archived_since("deals", since, props))
        out = Changes(CRM_DEALS_TABLE, watermark=self._watermark(changed))
        out.read = len(changed) + len(archived)
        out.keep = ("account_crm_id",)
        stages = self.dest.deal_stages() if changed or archived else {}
        company = self._associated("deals", [str(r["id"]) for r in changed])
        for record in [*changed, *archived]:
            p = record.get("properties") or {}
            row = self._base(record, "createdate")
            closed, won = stages.get(str(p.get("dealstage")), (False, False))
            try:
                amount = float(p["amount"]) if p.get("amount") not in (None, "") else None
            except ValueError:
                raise ValueError(
                    f"deal {row['crm_id']}: amount {p['amount']!r} is not a number"
                ) from None
            row.update(
                account_crm_id=company.get(row["crm_id"]),
                name=p.get("dealname"),
                stage=p.get("dealstage"),
                is_closed=closed,
                is_won=won if closed else None,
                amount=amount,
                closed_at=parse_crm_time(p.get("closedate"), what=f"closedate of {row['crm_id']}"),
            )
            (out.partial if row["is_deleted"] else out.rows).append(row)
        return out


def set_since(history: list[dict[str, Any]], value: str | None) -> datetime | None:
    """When a property took its current `value`: the oldest entry of the newest run of
    history entries holding it (HubSpot lists history newest first)."""
    since: datetime | None = None
    for entry in history:
        if (entry.get("value") or None) != value:
            break
        since = parse_crm_time(entry.get("timestamp"), what="property history timestamp")
    return since
