"""Incremental reads from Salesforce: Accounts (disposition), Tasks (first touch) and
Opportunities, changed since a time, through SalesforceDestination's counted, retried calls.

One SOQL query per object on `SystemModstamp` (which every change, including a delete,
moves), ordered by (SystemModstamp, Id) and read page by page through nextRecordsUrl. It runs
as queryAll, so deleted records come back too (IsDeleted = TRUE, SystemModstamp = the delete)
and merge losers carry MasterRecordId = the Account that was kept. SOQL has no result cap, and
a query cursor is a snapshot, so paging never shifts.

Disposition time: Salesforce keeps a field's history only when Field History Tracking is on
for it (AccountHistory), which Handoff's provisioning does not switch on. The time is taken as
the Account's LastModifiedDate in the first pull that sees the new value: an upper bound that
is exact unless the Account changed again before that pull (pull often to keep it tight).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pandas as pd

from handoff.crm.salesforce import SalesforceDestination
from handoff.outcomes.changes import Changes
from handoff.outcomes.schema import CRM_ACCOUNTS_TABLE, CRM_DEALS_TABLE, CRM_TASKS_TABLE
from handoff.outcomes.tables import existing_rows
from handoff.outcomes.times import parse_crm_time, soql_datetime
from handoff.sync.mapping import CrmMapping
from handoff.warehouse import Warehouse

log = logging.getLogger(__name__)

STAMP = "SystemModstamp"
ACCOUNT_PREFIX = "001"
OBJECTS = {"account": "Account", "task": "Task", "deal": "Opportunity"}
BASE_FIELDS = ["Id", "IsDeleted", "CreatedDate", "LastModifiedDate", STAMP]


def _field(mapping: CrmMapping, source: str) -> str | None:
    found = next((f for f in mapping.account.fields if f.source == source), None)
    return found.salesforce if found else None


class SalesforceChanges:
    """Reads what changed in Salesforce since a time; `pull(kind, since)` per object kind."""

    name = "salesforce"
    kinds = ("account", "task", "deal")

    def __init__(self, destination: SalesforceDestination, mapping: CrmMapping) -> None:
        self.dest = destination
        self.account_key = mapping.account.key("salesforce").salesforce or "Handoff_Account_Key__c"
        self.disposition = _field(mapping, "disposition") or "Handoff_Disposition__c"
        self.reject_reason = _field(mapping, "reject_reason") or "Handoff_Reject_Reason__c"
        self.task_key = mapping.task_key.salesforce
        self._fields: dict[str, set[str]] = {}

    def _select(self, obj: str, wanted: list[str], required: tuple[str, ...] = ()) -> list[str]:
        if obj not in self._fields:
            self._fields[obj] = self.dest.field_names(obj)
        have = self._fields[obj]
        missing = [f for f in required if f not in have]
        if missing:
            raise ValueError(
                f"Salesforce {obj} has no field {', '.join(missing)}: provision the Handoff "
                "fields (handoff sync --provision) before pulling outcomes"
            )
        return [f for f in dict.fromkeys(wanted) if f in have]

    def changed_since(self, obj: str, fields: list[str], since: datetime | None) -> list[dict]:
        where = f" WHERE {STAMP} >= {soql_datetime(since)}" if since else ""
        soql = f"SELECT {', '.join(fields)} FROM {obj}{where} ORDER BY {STAMP} ASC, Id ASC"
        rows: list[dict[str, Any]] = []
        for page in self.dest.query_pages(soql, include_deleted=True):
            rows += page
        return rows

    def pull(self, kind: str, since: datetime | None, wh: Warehouse) -> Changes:
        return {"account": self._accounts, "task": self._tasks, "deal": self._deals}[kind](
            since, wh
        )

    @staticmethod
    def _base(obj: str, row: dict[str, Any]) -> dict[str, Any]:
        rid = row.get("Id")
        deleted = bool(row.get("IsDeleted"))
        stamp = parse_crm_time(row.get(STAMP), what=f"{obj} {rid} {STAMP}")
        return {
            "crm_id": str(rid),
            "created_at": parse_crm_time(row.get("CreatedDate"), what=f"{obj} {rid} CreatedDate"),
            "modified_at": stamp,
            "is_deleted": deleted,
            "deleted_at": stamp if deleted else None,
        }

    @staticmethod
    def _watermark(rows: list[dict[str, Any]]) -> datetime | None:
        times = [parse_crm_time(r.get(STAMP)) for r in rows]
        times = [t for t in times if t is not None]
        return max(times) if times else None

    def _accounts(self, since: datetime | None, wh: Warehouse) -> Changes:
        fields = self._select(
            "Account",
            [
                *BASE_FIELDS,
                "MasterRecordId",
                self.account_key,
                self.disposition,
                self.reject_reason,
            ],
            required=(self.account_key,),
        )
        rows = self.changed_since("Account", fields, since)
        out = Changes(CRM_ACCOUNTS_TABLE, watermark=self._watermark(rows), read=len(rows))
        stored = existing_rows(wh, CRM_ACCOUNTS_TABLE, self.name, [r["Id"] for r in rows])
        known = {
            str(r["crm_id"]): (r["disposition"], r["disposition_at"])
            for r in stored.to_dict("records")
        }
        for raw in rows:
            row = self._base("Account", raw)
            disposition = raw.get(self.disposition) or None
            old = known.get(row["crm_id"])
            if disposition is None:
                at = None
            elif old is not None and old[0] == disposition and not pd.isna(old[1]):
                at = pd.Timestamp(old[1]).to_pydatetime()
            else:
                at = parse_crm_time(
                    raw.get("LastModifiedDate"), what=f"Account {row['crm_id']} LastModifiedDate"
                )
            row.update(
                account_key=raw.get(self.account_key),
                disposition=disposition,
                reject_reason=raw.get(self.reject_reason) or None,
                disposition_at=at,
                merged_into=raw.get("MasterRecordId") if row["is_deleted"] else None,
            )
            out.rows.append(row)
        return out

    def _tasks(self, since: datetime | None, wh: Warehouse) -> Changes:
        fields = self._select(
            "Task",
            [
                *BASE_FIELDS,
                "WhatId",
                "AccountId",
                "Status",
                "IsClosed",
                "CompletedDateTime",
                "ActivityDate",
                self.task_key,
            ],
        )
        rows = self.changed_since("Task", fields, since)
        out = Changes(CRM_TASKS_TABLE, watermark=self._watermark(rows), read=len(rows))
        for raw in rows:
            row = self._base("Task", raw)
            what = str(raw.get("WhatId") or "")
            account = raw.get("AccountId") or (what if what.startswith(ACCOUNT_PREFIX) else None)
            done = bool(raw.get("IsClosed"))
            completed = parse_crm_time(
                raw.get("CompletedDateTime"), what=f"Task {row['crm_id']} CompletedDateTime"
            )
            modified = parse_crm_time(raw.get("LastModifiedDate"))
            row.update(
                task_key=raw.get(self.task_key) or None,
                account_crm_id=account,
                status=raw.get("Status"),
                is_completed=done,
                # CompletedDateTime (API 55.0+); before that, the last modification
                completed_at=(completed or modified) if done else None,
                due_at=parse_crm_time(raw.get("ActivityDate"), what=f"Task {row['crm_id']} due"),
            )
            out.rows.append(row)
        return out

    def _deals(self, since: datetime | None, wh: Warehouse) -> Changes:
        fields = self._select(
            "Opportunity",
            [
                *BASE_FIELDS,
                "AccountId",
                "Name",
                "StageName",
                "IsClosed",
                "IsWon",
                "Amount",
                "CloseDate",
            ],
        )
        rows = self.changed_since("Opportunity", fields, since)
        out = Changes(CRM_DEALS_TABLE, watermark=self._watermark(rows), read=len(rows))
        for raw in rows:
            row = self._base("Opportunity", raw)
            closed = bool(raw.get("IsClosed"))
            amount = raw.get("Amount")
            row.update(
                account_crm_id=raw.get("AccountId"),
                name=raw.get("Name"),
                stage=raw.get("StageName"),
                is_closed=closed,
                is_won=bool(raw.get("IsWon")) if closed else None,
                amount=float(amount) if amount is not None else None,
                closed_at=parse_crm_time(
                    raw.get("CloseDate"), what=f"Opportunity {row['crm_id']} CloseDate"
                ),
            )
            out.rows.append(row)
        return out
