"""Read-only reference data: deal pipelines, owners and association types."""

from __future__ import annotations

from typing import Any

EPOCH = "2020-01-01T00:00:00.000Z"

# (stage id, label, probability, is closed)
DEFAULT_STAGES: list[tuple[str, str, float, bool]] = [
    ("appointmentscheduled", "Appointment Scheduled", 0.2, False),
    ("qualifiedtobuy", "Qualified To Buy", 0.4, False),
    ("presentationscheduled", "Presentation Scheduled", 0.6, False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", 0.8, False),
    ("contractsent", "Contract Sent", 0.9, False),
    ("closedwon", "Closed Won", 1.0, True),
    ("closedlost", "Closed Lost", 0.0, True),
]


def _stage(stage_id: str, label: str, probability: float, closed: bool, order: int) -> dict:
    return {
        "id": stage_id,
        "label": label,
        "displayOrder": order,
        "metadata": {"isClosed": str(closed).lower(), "probability": str(probability)},
        "createdAt": EPOCH,
        "updatedAt": EPOCH,
        "archived": False,
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
    }


def deal_pipelines() -> list[dict[str, Any]]:
    return [
        {
            "id": "default",
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "stages": [_stage(*s, order=i) for i, s in enumerate(DEFAULT_STAGES)],
            "createdAt": EPOCH,
            "updatedAt": EPOCH,
            "archived": False,
        }
    ]


def stage_ids(pipeline_id: str) -> list[str] | None:
    for pipeline in deal_pipelines():
        if pipeline["id"] == pipeline_id:
            return [s["id"] for s in pipeline["stages"]]
    return None


def closed_stage(stage_id: str) -> tuple[bool, float] | None:
    for pipeline in deal_pipelines():
        for stage in pipeline["stages"]:
            if stage["id"] == stage_id:
                meta = stage["metadata"]
                return meta["isClosed"] == "true", float(meta["probability"])
    return None


DEFAULT_OWNERS: list[dict[str, str]] = [
    {"firstName": "Avery", "lastName": "Chen", "email": "avery.chen@example.com"},
    {"firstName": "Jordan", "lastName": "Okafor", "email": "jordan.okafor@example.com"},
    {"firstName": "Priya", "lastName": "Raman", "email": "priya.raman@example.com"},
    {"firstName": "Mateo", "lastName": "Silva", "email": "mateo.silva@example.com"},
    {"firstName": "Sofia", "lastName": "Lindqvist", "email": "sofia.lindqvist@example.com"},
    {"firstName": "Noah", "lastName": "Bergstrom", "email": "noah.bergstrom@example.com"},
]


def owners(configured: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Owners as /crm/v3/owners returns them; `configured` replaces the seeded list."""
    source = configured if configured else DEFAULT_OWNERS
    out = []
    for i, owner in enumerate(source):
        owner_id = str(owner.get("id", 70_000_001 + i))
        user_id = int(owner.get("userId", 9_000_001 + i))
        out.append(
            {
                "id": owner_id,
                "email": owner.get("email"),
                "type": "PERSON",
                "firstName": owner.get("firstName", ""),
                "lastName": owner.get("lastName", ""),
                "userId": user_id,
                "userIdIncludingInactive": user_id,
                "createdAt": EPOCH,
                "updatedAt": EPOCH,
                "archived": False,
                "teams": owner.get("teams", []),
            }
        )
    return out


# association type id -> (from type, to type, label or None, inverse type id)
ASSOCIATION_TYPES: dict[int, tuple[str, str, str | None, int]] = {
    1: ("contacts", "companies", "Primary", 2),
    2: ("companies", "contacts", "Primary", 1),
    279: ("contacts", "companies", None, 280),
    280: ("companies", "contacts", None, 279),
    3: ("deals", "contacts", None, 4),
    4: ("contacts", "deals", None, 3),
    5: ("deals", "companies", "Primary", 6),
    6: ("companies", "deals", "Primary", 5),
    341: ("deals", "companies", None, 342),
    342: ("companies", "deals", None, 341),
    191: ("companies", "tasks", None, 192),
    192: ("tasks", "companies", None, 191),
    203: ("contacts", "tasks", None, 204),
    204: ("tasks", "contacts", None, 203),
    215: ("deals", "tasks", None, 216),
    216: ("tasks", "deals", None, 215),
}
DEFAULT_ASSOCIATION: dict[tuple[str, str], int] = {
    (f, t): type_id for type_id, (f, t, label, _inv) in ASSOCIATION_TYPES.items() if label is None
}
