"""Create what the mapping needs in a CRM: the property group and fields of each synced
object, and the task key field. Idempotent and safe to rerun: existing fields are left as
they are, nothing is ever deleted."""

from __future__ import annotations

import logging

from handoff.crm.base import Destination, FieldSpec, ProvisionResult
from handoff.sync.mapping import Crm, CrmMapping

log = logging.getLogger(__name__)

TASK_OBJECTS: dict[Crm, str] = {"hubspot": "tasks", "salesforce": "Task"}


def task_key_spec(mapping: CrmMapping, crm: Crm) -> FieldSpec:
    return FieldSpec(
        name=getattr(mapping.task_key, crm),
        label="Handoff episode key",
        type="string",
        description="Handoff: the trigger episode this task was created for (one task each)",
        unique=True,
        length=255,
    )


def provision_mapping(
    destination: Destination, mapping: CrmMapping, crm: Crm
) -> dict[str, ProvisionResult]:
    """Provision every object of the mapping plus the task key; CRM object -> result."""
    out: dict[str, ProvisionResult] = {}
    plan = [(om.object(crm), om.specs(crm)) for om in mapping.objects.values()]
    plan.append((TASK_OBJECTS[crm], [task_key_spec(mapping, crm)]))
    for obj, specs in plan:
        result = destination.provision(obj, mapping.group.name, specs)
        out[obj] = result
        log.info(
            "provisioned %s.%s: %d created, %d already there%s",
            destination.name, obj, len(result.created), len(result.existing),
            f" (created: {', '.join(result.created)})" if result.created else "",
        )  # fmt: skip
    return out
