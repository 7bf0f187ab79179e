"""CRM destinations: one interface, one adapter per CRM (HubSpot, Salesforce)."""

from handoff.crm.base import (
    CrmError,
    Destination,
    FieldSpec,
    ProvisionResult,
    RecordResult,
    TaskSpec,
    UpsertRecord,
)

__all__ = [
    "CrmError",
    "Destination",
    "FieldSpec",
    "ProvisionResult",
    "RecordResult",
    "TaskSpec",
    "UpsertRecord",
]
