"""Object types, property definitions and HubSpot's property-value validation rules."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

# objectType path segment -> canonical plural name. HubSpot accepts names and type ids.
OBJECT_TYPES: dict[str, str] = {
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
    "tasks": "tasks",
    "task": "tasks",
    "0-27": "tasks",
}
SINGULAR = {"companies": "company", "contacts": "contact", "deals": "deal", "tasks": "task"}

PROPERTY_TYPES = {"bool", "date", "datetime", "enumeration", "number", "phone_number", "string"}
FIELD_TYPES: dict[str, set[str]] = {
    "bool": {"booleancheckbox", "checkbox", "radio", "select"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"booleancheckbox", "checkbox", "radio", "select"},
    "number": {"number", "calculation_equation"},
    "phone_number": {"phonenumber", "text"},
    "string": {"text", "textarea", "file", "html", "phonenumber"},
}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
MAX_STRING = 65_536

# The property that tracks the last modification, per object type.
LAST_MODIFIED = {
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "tasks": "hs_lastmodifieddate",
}
CREATED = {
    "companies": ("createdate",),
    "contacts": ("createdate",),
    "deals": ("createdate",),
    "tasks": ("hs_createdate",),
}
# Returned when a request does not name `properties`.
DEFAULT_RETURNED = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "tasks": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
}
# Free-text `query` in search looks at these.
QUERY_PROPERTIES = {
    "companies": ("name", "domain", "website", "phone"),
    "contacts": ("firstname", "lastname", "email", "phone", "company"),
    "deals": ("dealname",),
    "tasks": ("hs_task_subject", "hs_task_body"),
}
DEFAULT_GROUPS = {
    "companies": [("companyinformation", "Company information")],
    "contacts": [("contactinformation", "Contact information")],
    "deals": [("dealinformation", "Deal information")],
    "tasks": [("task", "Task information")],
}


@dataclass
class Option:
    label: str
    value: str
    displayOrder: int = 0
    hidden: bool = False
    description: str = ""


@dataclass
class PropertyDef:
    name: str
    label: str
    type: str
    fieldType: str
    groupName: str
    description: str = ""
    options: list[Option] = field(default_factory=list)
    displayOrder: int = -1
    hasUniqueValue: bool = False
    hidden: bool = False
    formField: bool = False
    hubspotDefined: bool = False
    readOnlyValue: bool = False
    calculated: bool = False
    createdAt: str = ""
    updatedAt: str = ""
    archived: bool = False
    # options come from somewhere else: "owners" | "pipelines" | "stages"
    dynamicOptions: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "updatedAt": self.updatedAt,
            "createdAt": self.createdAt,
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.fieldType,
            "description": self.description,
            "groupName": self.groupName,
            "options": [asdict(o) for o in self.options],
            "displayOrder": self.displayOrder,
            "calculated": self.calculated,
            "externalOptions": self.dynamicOptions is not None,
            "hasUniqueValue": self.hasUniqueValue,
            "hidden": self.hidden,
            "modificationMetadata": {
                "archivable": not self.hubspotDefined,
                "readOnlyDefinition": self.hubspotDefined,
                "readOnlyValue": self.readOnlyValue,
            },
            "formField": self.formField,
            "archived": self.archived,
        }
        if self.hubspotDefined:
            body["hubspotDefined"] = True
        return body

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, data: dict[str, Any]) -> PropertyDef:
        data = dict(data)
        data["options"] = [Option(**o) for o in data.get("options", [])]
        return cls(**data)


def _options(*values: str, labels: dict[str, str] | None = None) -> list[Option]:
    labels = labels or {}
    return [
        Option(label=labels.get(v, v.replace("_", " ").title()), value=v, displayOrder=i)
        for i, v in enumerate(values)
    ]


LIFECYCLE = _options(
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


def _p(name: str, type_: str, field_type: str, group: str, **kw: Any) -> PropertyDef:
    label = kw.pop("label", name.replace("hs_", "").replace("_", " ").title())
    return PropertyDef(
        name=name,
        label=label,
        type=type_,
        fieldType=field_type,
        groupName=group,
        hubspotDefined=True,
        **kw,
    )


def _common(group: str, *, created: str = "createdate", modified: str) -> list[PropertyDef]:
    return [
        _p("hs_object_id", "number", "number", group, label="Record ID", readOnlyValue=True),
        _p(created, "datetime", "date", group, label="Create Date"),
        _p(modified, "datetime", "date", group, label="Last Modified Date", readOnlyValue=True),
        # ids of the records merged into this one, semicolon-separated (HubSpot: "Merged
        # <object> IDs"); set by merges only
        _p(
            "hs_merged_object_ids",
            "string",
            "text",
            group,
            label="Merged record IDs",
            readOnlyValue=True,
        ),
        _p(
            "hubspot_owner_id",
            "enumeration",
            "select",
            group,
            label="Owner",
            dynamicOptions="owners",
        ),
    ]


def default_properties() -> dict[str, list[PropertyDef]]:
    company, contact, deal, task = (
        "companyinformation",
        "contactinformation",
        "dealinformation",
        "task",
    )
    return {
        "companies": [
            *_common(company, modified="hs_lastmodifieddate"),
            _p("name", "string", "text", company, label="Company name"),
            _p("domain", "string", "text", company, label="Company Domain Name"),
            _p("website", "string", "text", company, label="Website URL"),
            _p("phone", "string", "phonenumber", company, label="Phone Number"),
            _p("city", "string", "text", company),
            _p("country", "string", "text", company, label="Country/Region"),
            _p("industry", "string", "text", company),
            _p("numberofemployees", "number", "number", company, label="Number of Employees"),
            _p("annualrevenue", "number", "number", company, label="Annual Revenue"),
            _p("description", "string", "textarea", company),
            _p("lifecyclestage", "enumeration", "radio", company, options=LIFECYCLE),
        ],
        "contacts": [
            *_common(contact, modified="lastmodifieddate"),
            _p("email", "string", "text", contact, hasUniqueValue=True),
            _p("firstname", "string", "text", contact, label="First Name"),
            _p("lastname", "string", "text", contact, label="Last Name"),
            _p("jobtitle", "string", "text", contact, label="Job Title"),
            _p("phone", "string", "phonenumber", contact, label="Phone Number"),
            _p("company", "string", "text", contact, label="Company Name"),
            _p("lifecyclestage", "enumeration", "radio", contact, options=LIFECYCLE),
        ],
        "deals": [
            *_common(deal, modified="hs_lastmodifieddate"),
            _p("dealname", "string", "text", deal, label="Deal Name"),
            _p("amount", "number", "number", deal),
            _p("closedate", "datetime", "date", deal, label="Close Date"),
            _p("pipeline", "enumeration", "select", deal, dynamicOptions="pipelines"),
            _p(
                "dealstage",
                "enumeration",
                "radio",
                deal,
                label="Deal Stage",
                dynamicOptions="stages",
            ),
            _p(
                "dealtype",
                "enumeration",
                "radio",
                deal,
                label="Deal Type",
                options=_options("newbusiness", "existingbusiness"),
            ),
            _p("description", "string", "textarea", deal, label="Deal Description"),
            _p("closed_lost_reason", "string", "textarea", deal, label="Closed Lost Reason"),
            _p("closed_won_reason", "string", "textarea", deal, label="Closed Won Reason"),
        ],
        "tasks": [
            *_common(task, created="hs_createdate", modified="hs_lastmodifieddate"),
            _p("hs_timestamp", "datetime", "date", task, label="Due date"),
            _p("hs_task_subject", "string", "text", task, label="Task Title"),
            _p("hs_task_body", "string", "html", task, label="Notes"),
            _p(
                "hs_task_status",
                "enumeration",
                "select",
                task,
                label="Task Status",
                options=_options("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
            ),
            _p(
                "hs_task_priority",
                "enumeration",
                "select",
                task,
                label="Priority",
                options=_options("NONE", "LOW", "MEDIUM", "HIGH"),
            ),
            _p(
                "hs_task_type",
                "enumeration",
                "select",
                task,
                label="Task Type",
                options=_options("CALL", "EMAIL", "LINKED_IN", "MEETING", "TODO"),
            ),
            _p("hs_task_completion_date", "datetime", "date", task, label="Completed at"),
        ],
    }


# --- values ----------------------------------------------------------------------------


class InvalidValue(Exception):
    """One property value HubSpot would refuse (becomes a validationResults entry)."""

    def __init__(self, name: str, error: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.error = error
        self.message = message

    def result(self, portal_id: int) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.error,
            "name": self.name,
            "localizedErrorMessage": self.message,
            "portalId": portal_id,
        }


def format_datetime(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_datetime(raw: Any) -> datetime | None:
    """Epoch milliseconds (number or digits) or ISO 8601; None if neither."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float) or (isinstance(raw, str) and re.fullmatch(r"-?\d+", raw)):
        try:
            return datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(raw, str):
        text = raw.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment
    return None


def number_text(value: float) -> str:
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(float(value))


def normalize_value(prop: PropertyDef, raw: Any, allowed: list[str] | None = None) -> str | None:
    """The stored string for `raw`, None to clear it; InvalidValue when HubSpot would refuse.

    `allowed` gives the option values of dynamic enumerations (owners, pipelines, stages).
    """
    if raw is None or (isinstance(raw, str) and raw == ""):
        return None
    if isinstance(raw, dict | list):
        raise InvalidValue(prop.name, "INVALID_VALUE", f"{raw!r} is not a valid property value")
    kind = prop.type
    if kind in ("string", "phone_number"):
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if len(text) > MAX_STRING:
            raise InvalidValue(
                prop.name, "MAX_CHARACTERS", f"{prop.name} is longer than {MAX_STRING} characters"
            )
        return text
    if kind == "number":
        if isinstance(raw, bool):
            raise InvalidValue(prop.name, "INVALID_INTEGER", f"{raw} was not a valid number.")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise InvalidValue(
                prop.name, "INVALID_INTEGER", f"{raw} was not a valid number."
            ) from None
        if math.isnan(value) or math.isinf(value):
            raise InvalidValue(prop.name, "INVALID_INTEGER", f"{raw} was not a valid number.")
        return number_text(value)
    if kind == "bool":
        text = str(raw).strip().lower()
        if text in ("true", "false"):
            return text
        raise InvalidValue(
            prop.name, "INVALID_BOOLEAN", f"{raw} was not a valid boolean (true or false)."
        )
    if kind == "date":
        if isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):
            try:
                return date.fromisoformat(raw.strip()).isoformat()
            except ValueError:
                pass
        moment = parse_datetime(raw)
        if moment is None:
            raise InvalidValue(prop.name, "INVALID_DATE", f"{raw} is not a valid date.")
        if moment.astimezone(UTC).time() != time(0, 0):
            raise InvalidValue(
                prop.name,
                "INVALID_DATE",
                f"{raw} is at {moment.time()} and not at midnight UTC as dates must be.",
            )
        return moment.astimezone(UTC).date().isoformat()
    if kind == "datetime":
        if isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw.strip()):
            try:
                return format_datetime(
                    datetime.combine(date.fromisoformat(raw.strip()), time(0), UTC)
                )
            except ValueError:
                pass
        moment = parse_datetime(raw)
        if moment is None:
            raise InvalidValue(prop.name, "INVALID_DATE", f"{raw} is not a valid datetime.")
        return format_datetime(moment)
    if kind == "enumeration":
        values = allowed if allowed is not None else [o.value for o in prop.options]
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        parts = text.split(";") if prop.fieldType == "checkbox" else [text]
        for part in parts:
            if part not in values:
                shown = ", ".join(values)
                raise InvalidValue(
                    prop.name,
                    "INVALID_OPTION",
                    f"{part} was not one of the allowed options: [{shown}]",
                )
        return text
    raise InvalidValue(prop.name, "INVALID_VALUE", f"unsupported property type {kind}")


def comparable(prop: PropertyDef | None, value: str | None) -> Any:
    """A sortable/comparable form of a stored value (numbers and dates as numbers)."""
    if value is None:
        return None
    kind = prop.type if prop else "string"
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return None
    if kind in ("datetime", "date"):
        moment = parse_datetime(value)
        return moment.timestamp() * 1000 if moment else None
    if kind == "bool":
        return value == "true"
    return value.lower()
