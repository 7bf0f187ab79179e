"""The destination interface every CRM adapter implements.

The sync core (diffing, sync_state, dead letters, run accounting) speaks only this
interface; adapters turn it into each CRM's batch endpoints through the official client
library, and own batching, pacing from the CRM's rate-limit headers, retries with backoff on
429 / 423 / 5xx, and per-record error attribution (splitting a batch to isolate a bad
record). An adapter never raises for a record the CRM rejected: it returns a failed
RecordResult with the CRM's own message. It raises CrmError only when the CRM cannot be
used at all (bad credentials, daily quota spent, unreachable after retries).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from handoff.errors import HandoffError

FieldType = Literal["string", "text", "number", "bool", "date", "datetime", "enumeration"]


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items (a CRM's batch limit)."""
    for lo in range(0, len(items), size):
        yield items[lo : lo + size]


class CrmError(HandoffError):
    """The CRM cannot be used right now (auth, quota, outage). Never carries secrets."""

    def __init__(self, message: str, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class FieldSpec:
    """One custom field (HubSpot property / Salesforce custom field) Handoff writes or reads."""

    name: str  # the API name in this CRM (e.g. handoff_pqa_score / Handoff_PQA_Score__c)
    label: str
    type: FieldType
    description: str = ""
    options: tuple[str, ...] = ()  # enumeration values
    unique: bool = False  # the upsert key: hasUniqueValue / External ID + Unique
    length: int | None = None  # string length (Salesforce Text / LongTextArea)


@dataclass(frozen=True)
class ProvisionResult:
    created: list[str]
    existing: list[str]
    updated: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class UpsertRecord:
    key: str  # the value of the unique key field (the account domain)
    fields: dict[str, Any]  # CRM field name -> value (None clears the field)


@dataclass(frozen=True)
class RecordResult:
    key: str
    ok: bool
    crm_id: str | None = None
    created: bool | None = None
    error: str | None = None  # the CRM's own message (and code) when not ok
    retryable: bool = False  # a transient failure (worth retrying on a later run)


@dataclass(frozen=True)
class TaskSpec:
    """A task for a rep: one per trigger episode, idempotent by `key`."""

    key: str  # the episode id: a rerun must never create a second task for it
    account_key: str  # the account's unique key value (domain), to associate / set WhatId
    subject: str
    body: str
    due_at: datetime  # naive UTC
    owner_email: str | None
    priority: Literal["HIGH", "MEDIUM", "LOW"] = "MEDIUM"


class Destination(Protocol):
    name: str  # "hubspot" | "salesforce"
    api_calls: int  # HTTP requests made so far (for sync_runs)
    # optional: batch_records, the records the sync hands to one upsert() (default 1000)

    def provision(self, obj: str, group: str, fields: list[FieldSpec]) -> ProvisionResult:
        """Create missing fields (and their group); idempotent; never deletes."""
        ...

    def upsert(self, obj: str, key_field: str, records: list[UpsertRecord]) -> list[RecordResult]:
        """Upsert by the unique key, one result per record in input order."""
        ...

    def read(
        self, obj: str, key_field: str, keys: list[str], fields: list[str]
    ) -> dict[str, dict[str, Any]]:
        """Current values of `fields` for the records with these keys (missing keys absent)."""
        ...

    def owners(self) -> dict[str, str]:
        """Lower-cased email -> CRM owner / user id."""
        ...

    def create_tasks(self, tasks: list[TaskSpec], task_key_field: str) -> list[RecordResult]:
        """Create (or find, by `task_key_field` = TaskSpec.key) one task per spec."""
        ...
