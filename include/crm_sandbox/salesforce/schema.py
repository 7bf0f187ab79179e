"""sObject and field definitions, describe output, and custom fields from Tooling metadata."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from crm_sandbox.salesforce.errors import SfError
from crm_sandbox.salesforce.ids import KEY_PREFIXES

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
STRING_TYPES = frozenset(
    {"id", "string", "textarea", "url", "email", "phone", "picklist", "combobox", "reference"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})


@dataclass
class PicklistValue:
    value: str
    label: str | None = None
    default: bool = False
    active: bool = True
    # OpportunityStage / TaskStatus attributes used to derive other fields.
    closed: bool = False
    won: bool = False
    probability: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "defaultValue": self.default,
            "label": self.label or self.value,
            "validFor": None,
            "value": self.value,
        }


@dataclass
class FieldDef:
    name: str
    label: str
    type: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    required: bool = False  # must be given on create (after defaults are applied)
    default: Any = None
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    picklist: list[PicklistValue] = field(default_factory=list)
    restricted: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    custom: bool = False
    calculated: bool = False
    html: bool = False
    visible_lines: int | None = None
    name_field: bool = False
    # Tooling API id and creation time of a custom field.
    tooling_id: str | None = None
    created: str | None = None
    metadata: dict[str, Any] | None = None

    @property
    def indexed(self) -> bool:
        return self.external_id or self.unique or self.type == "id"

    def picklist_value(self, value: str) -> PicklistValue | None:
        for pv in self.picklist:
            if pv.value == value:
                return pv
        return None

    def describe(self) -> dict[str, Any]:
        is_text = self.type in STRING_TYPES
        return {
            "aggregatable": self.type not in ("textarea",),
            "autoNumber": False,
            "byteLength": self.length * 3 if is_text else 0,
            "calculated": self.calculated,
            "caseSensitive": self.case_sensitive,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default
            if self.type == "boolean" and self.default is not None
            else None,
            "defaultedOnCreate": self.default is not None or self.name == "OwnerId",
            "digits": self.digits,
            "externalId": self.external_id,
            "filterable": self.type != "textarea" or self.length <= 255,
            "groupable": self.type not in ("textarea", "double", "currency", "percent"),
            "htmlFormatted": self.html,
            "idLookup": self.type == "id" or self.external_id,
            "label": self.label,
            "length": self.length,
            "name": self.name,
            "nameField": self.name_field,
            "nillable": self.nillable,
            "picklistValues": [pv.describe() for pv in self.picklist],
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "precision": self.precision,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted,
            "scale": self.scale,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.type != "textarea" or self.length <= 255,
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
        }

    def to_state(self) -> dict[str, Any]:
        data = copy.deepcopy(self.__dict__)
        data["picklist"] = [pv.__dict__ for pv in self.picklist]
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> FieldDef:
        data = dict(data)
        data["picklist"] = [PicklistValue(**pv) for pv in data.get("picklist", [])]
        return cls(**data)


@dataclass
class ObjectDef:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, FieldDef]
    createable: bool = True
    # first + last name fields combine into Name (Contact, Lead, User)
    compound_name: bool = False

    def field(self, name: str) -> FieldDef | None:
        """A field by name, case-insensitively."""
        f = self.fields.get(name)
        if f is not None:
            return f
        lower = name.lower()
        for f in self.fields.values():
            if f.name.lower() == lower:
                return f
        return None

    def relationship(self, name: str) -> FieldDef | None:
        """The lookup field whose relationship name is `name` (case-insensitive)."""
        lower = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == lower:
                return f
        return None

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
            "describe": f"{base}/describe",
            "sobject": base,
        }

    def summary(self, version: str) -> dict[str, Any]:
        return {
            "activateable": False,
            "createable": self.createable,
            "custom": False,
            "customSetting": False,
            "deletable": self.createable,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": self.name in ("Account", "Contact", "Lead"),
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": self.createable,
            "updateable": self.createable or self.name == "User",
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        data = self.summary(version)
        data.update(
            {
                "childRelationships": [],
                "fields": [f.describe() for f in self.fields.values()],
                "recordTypeInfos": [],
                "supportedScopes": [{"label": "All " + self.label_plural, "name": "everything"}],
            }
        )
        return data


# --- standard objects ------------------------------------------------------------------


def _f(name: str, label: str, type_: str, **kw: Any) -> FieldDef:
    if type_ in ("string", "url", "email", "phone", "picklist", "combobox") and "length" not in kw:
        kw["length"] = 255
    if type_ in ("id", "reference"):
        kw.setdefault("length", 18)
    return FieldDef(name=name, label=label, type=type_, **kw)


def _readonly(f: FieldDef) -> FieldDef:
    f.createable = False
    f.updateable = False
    return f


def _picklist(*values: str, default: str | None = None) -> list[PicklistValue]:
    return [PicklistValue(value=v, default=v == default) for v in values]


def _system_fields() -> list[FieldDef]:
    return [
        _readonly(
            _f(
                "CreatedDate",
                "Created Date",
                "datetime",
                nillable=False,
            )
        ),
        _readonly(
            _f(
                "CreatedById",
                "Created By ID",
                "reference",
                nillable=False,
                reference_to=["User"],
                relationship_name="CreatedBy",
            )
        ),
        _readonly(_f("LastModifiedDate", "Last Modified Date", "datetime", nillable=False)),
        _readonly(
            _f(
                "LastModifiedById",
                "Last Modified By ID",
                "reference",
                nillable=False,
                reference_to=["User"],
                relationship_name="LastModifiedBy",
            )
        ),
        _readonly(_f("SystemModstamp", "System Modstamp", "datetime", nillable=False)),
    ]


def _head() -> list[FieldDef]:
    return [
        _readonly(_f("Id", "Record ID", "id", nillable=False)),
        _readonly(_f("IsDeleted", "Deleted", "boolean", nillable=False, default=False)),
    ]


def _master(obj: str) -> FieldDef:
    """MasterRecordId: on a record deleted by a merge, the record that was kept."""
    return _readonly(
        _f(
            "MasterRecordId",
            "Master Record ID",
            "reference",
            reference_to=[obj],
            relationship_name="MasterRecord",
        )
    )


def _owner() -> FieldDef:
    return _f(
        "OwnerId",
        "Owner ID",
        "reference",
        nillable=False,
        reference_to=["User"],
        relationship_name="Owner",
    )


INDUSTRIES = _picklist(
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
LEAD_SOURCES = _picklist(
    "Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Product", "Other"
)

OPPORTUNITY_STAGES = [
    PicklistValue("Prospecting", probability=10, default=True),
    PicklistValue("Qualification", probability=10),
    PicklistValue("Needs Analysis", probability=20),
    PicklistValue("Value Proposition", probability=50),
    PicklistValue("Id. Decision Makers", probability=60),
    PicklistValue("Perception Analysis", probability=70),
    PicklistValue("Proposal/Price Quote", probability=75),
    PicklistValue("Negotiation/Review", probability=90),
    PicklistValue("Closed Won", probability=100, closed=True, won=True),
    PicklistValue("Closed Lost", probability=0, closed=True),
]
TASK_STATUSES = [
    PicklistValue("Not Started", default=True),
    PicklistValue("In Progress"),
    PicklistValue("Completed", closed=True),
    PicklistValue("Waiting on someone else"),
    PicklistValue("Deferred"),
]
LEAD_STATUSES = [
    PicklistValue("Open - Not Contacted", default=True),
    PicklistValue("Working - Contacted"),
    PicklistValue("Closed - Converted", closed=True),
    PicklistValue("Closed - Not Converted", closed=True),
]


def _obj(name: str, plural: str, fields: list[FieldDef], **kw: Any) -> ObjectDef:
    label = kw.pop("label", name)
    return ObjectDef(
        name=name,
        label=label,
        label_plural=plural,
        key_prefix=KEY_PREFIXES[name],
        fields={f.name: f for f in fields},
        **kw,
    )


def _person_name(last_required: bool) -> list[FieldDef]:
    return [
        _f("FirstName", "First Name", "string", length=40),
        _f(
            "LastName",
            "Last Name",
            "string",
            length=80,
            nillable=not last_required,
            required=last_required,
        ),
        _readonly(_f("Name", "Full Name", "string", length=121, name_field=True, calculated=True)),
    ]


def standard_objects() -> dict[str, ObjectDef]:
    account = _obj(
        "Account",
        "Accounts",
        [
            *_head(),
            _master("Account"),
            _f("Name", "Account Name", "string", nillable=False, required=True, name_field=True),
            _f(
                "Type",
                "Account Type",
                "picklist",
                picklist=_picklist(
                    "Prospect",
                    "Customer - Direct",
                    "Customer - Channel",
                    "Channel Partner / Reseller",
                    "Installation Partner",
                    "Technology Partner",
                    "Other",
                ),
            ),
            _f(
                "ParentId",
                "Parent Account ID",
                "reference",
                reference_to=["Account"],
                relationship_name="Parent",
            ),
            _f("Industry", "Industry", "picklist", picklist=copy.deepcopy(INDUSTRIES)),
            _f("Website", "Website", "url"),
            _f("Phone", "Account Phone", "phone", length=40),
            _f("Description", "Account Description", "textarea", length=32000),
            _f("NumberOfEmployees", "Employees", "int", digits=8),
            _f("AnnualRevenue", "Annual Revenue", "currency", precision=18, scale=0),
            _f("BillingCity", "Billing City", "string", length=40),
            _f("BillingState", "Billing State/Province", "string", length=80),
            _f("BillingCountry", "Billing Country", "string", length=80),
            _owner(),
            *_system_fields(),
            _readonly(_f("LastActivityDate", "Last Activity", "date")),
        ],
    )
    contact = _obj(
        "Contact",
        "Contacts",
        [
            *_head(),
            _master("Contact"),
            _f(
                "AccountId",
                "Account ID",
                "reference",
                reference_to=["Account"],
                relationship_name="Account",
            ),
            *_person_name(True),
            _f("Email", "Email", "email", length=80),
            _f("Phone", "Business Phone", "phone", length=40),
            _f("Title", "Title", "string", length=128),
            _f("LeadSource", "Lead Source", "picklist", picklist=copy.deepcopy(LEAD_SOURCES)),
            _owner(),
            *_system_fields(),
        ],
        compound_name=True,
    )
    lead = _obj(
        "Lead",
        "Leads",
        [
            *_head(),
            _master("Lead"),
            *_person_name(True),
            _f("Company", "Company", "string", nillable=False, required=True),
            _f("Email", "Email", "email", length=80),
            _f("Phone", "Phone", "phone", length=40),
            _f("Title", "Title", "string", length=128),
            _f("Website", "Website", "url"),
            _f(
                "Status",
                "Status",
                "picklist",
                nillable=False,
                picklist=copy.deepcopy(LEAD_STATUSES),
                default="Open - Not Contacted",
                restricted=True,
            ),
            _f("LeadSource", "Lead Source", "picklist", picklist=copy.deepcopy(LEAD_SOURCES)),
            _f("Industry", "Industry", "picklist", picklist=copy.deepcopy(INDUSTRIES)),
            _f("NumberOfEmployees", "Employees", "int", digits=8),
            _readonly(_f("IsConverted", "Converted", "boolean", nillable=False, default=False)),
            _owner(),
            *_system_fields(),
        ],
        compound_name=True,
    )
    opportunity = _obj(
        "Opportunity",
        "Opportunities",
        [
            *_head(),
            _f(
                "AccountId",
                "Account ID",
                "reference",
                reference_to=["Account"],
                relationship_name="Account",
            ),
            _f(
                "Name",
                "Name",
                "string",
                length=120,
                nillable=False,
                required=True,
                name_field=True,
            ),
            _f("Description", "Description", "textarea", length=32000),
            _f(
                "StageName",
                "Stage",
                "picklist",
                nillable=False,
                required=True,
                picklist=copy.deepcopy(OPPORTUNITY_STAGES),
                restricted=True,
            ),
            _f("Amount", "Amount", "currency", precision=18, scale=2),
            _f("Probability", "Probability (%)", "percent", precision=3, scale=0),
            _f("CloseDate", "Close Date", "date", nillable=False, required=True),
            _f(
                "Type",
                "Opportunity Type",
                "picklist",
                picklist=_picklist("Existing Business", "New Business"),
            ),
            _f("NextStep", "Next Step", "string"),
            _f("LeadSource", "Lead Source", "picklist", picklist=copy.deepcopy(LEAD_SOURCES)),
            _readonly(_f("IsClosed", "Closed", "boolean", nillable=False, default=False)),
            _readonly(_f("IsWon", "Won", "boolean", nillable=False, default=False)),
            _owner(),
            *_system_fields(),
        ],
    )
    task = _obj(
        "Task",
        "Tasks",
        [
            *_head(),
            _f(
                "WhoId",
                "Name ID",
                "reference",
                reference_to=["Contact", "Lead"],
                relationship_name="Who",
            ),
            _f(
                "WhatId",
                "Related To ID",
                "reference",
                reference_to=["Account", "Opportunity"],
                relationship_name="What",
            ),
            _f("Subject", "Subject", "combobox", name_field=True),
            _f("ActivityDate", "Due Date Only", "date"),
            _f(
                "Status",
                "Status",
                "picklist",
                length=40,
                nillable=False,
                picklist=copy.deepcopy(TASK_STATUSES),
                default="Not Started",
                restricted=True,
            ),
            _f(
                "Priority",
                "Priority",
                "picklist",
                length=40,
                nillable=False,
                picklist=_picklist("High", "Normal", "Low", default="Normal"),
                default="Normal",
                restricted=True,
            ),
            _f(
                "Type",
                "Type",
                "picklist",
                length=40,
                picklist=_picklist("Call", "Email", "Meeting", "Other"),
            ),
            _f("Description", "Description", "textarea", length=32000),
            _readonly(_f("IsClosed", "Closed", "boolean", nillable=False, default=False)),
            _readonly(_f("CompletedDateTime", "Completed Date/Time", "datetime")),
            _owner(),
            *_system_fields(),
        ],
    )
    user = _obj(
        "User",
        "Users",
        [
            _readonly(_f("Id", "User ID", "id", nillable=False)),
            _f("Username", "Username", "string", length=80, nillable=False, unique=True),
            *_person_name(True),
            _f("Alias", "Alias", "string", length=8),
            _f("Email", "Email", "email", length=128, nillable=False),
            _f("Title", "Title", "string", length=80),
            _f("IsActive", "Active", "boolean", nillable=False, default=True),
            *_system_fields(),
        ],
        createable=False,
        compound_name=True,
    )
    return {o.name: o for o in (account, contact, lead, opportunity, task, user)}


# --- custom fields (Tooling API) ---------------------------------------------------------

_CUSTOM_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)__c$")


def _integrity(message: str, fields: list[str] | None = None) -> SfError:
    return SfError(400, "FIELD_INTEGRITY_EXCEPTION", message, fields or [])


def _int_attr(meta: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise _integrity(f"{key}: You must enter a whole number between {lo} and {hi}.", [key])
    if not lo <= int(value) <= hi:
        raise _integrity(f"{key}: value {value} must be between {lo} and {hi}.", [key])
    return int(value)


def _picklist_from_value_set(meta: dict[str, Any]) -> tuple[list[PicklistValue], bool]:
    value_set = meta.get("valueSet")
    if not isinstance(value_set, dict):
        raise _integrity("valueSet: Picklist fields need a valueSet.", ["valueSet"])
    definition = value_set.get("valueSetDefinition") or {}
    values = definition.get("value") if isinstance(definition, dict) else None
    if not isinstance(values, list) or not values:
        raise _integrity("valueSet: Picklist fields need at least one value.", ["valueSet"])
    out: list[PicklistValue] = []
    for item in values:
        if not isinstance(item, dict) or not isinstance(item.get("fullName"), str):
            raise _integrity("valueSet: every value needs a fullName.", ["valueSet"])
        out.append(
            PicklistValue(
                value=item["fullName"],
                label=item.get("label") or item["fullName"],
                default=bool(item.get("default", False)),
            )
        )
    return out, bool(value_set.get("restricted", False))


def custom_field_from_metadata(obj: ObjectDef, api_name: str, meta: dict[str, Any]) -> FieldDef:
    """Build a custom field from Tooling API `CustomField` metadata, validating it."""
    if not _CUSTOM_NAME.match(api_name):
        raise _integrity(
            f"FullName: The field name {api_name!r} can only contain underscores and "
            "alphanumeric characters, must begin with a letter, not include spaces, not end "
            "with an underscore, not contain two consecutive underscores, and end with __c.",
            ["FullName"],
        )
    label = meta.get("label")
    if not isinstance(label, str) or not label.strip():
        raise _integrity("label: You must enter a value", ["label"])
    kind = meta.get("type")
    external_id = bool(meta.get("externalId", False))
    unique = bool(meta.get("unique", False))
    kw: dict[str, Any] = {
        "name": api_name,
        "label": label,
        "custom": True,
        "external_id": external_id,
        "unique": unique,
        "case_sensitive": bool(meta.get("caseSensitive", False)),
        "required": bool(meta.get("required", False)),
    }
    kw["nillable"] = not kw["required"]
    if kind == "Text":
        kw.update(type="string", length=_int_attr(meta, "length", 1, 255))
    elif kind in ("Email", "Phone", "Url"):
        kw.update(type=kind.lower(), length=80 if kind == "Email" else 255)
        if kind == "Phone":
            kw["length"] = 40
    elif kind in ("Number", "Currency", "Percent"):
        precision = _int_attr(meta, "precision", 1, 18)
        scale = _int_attr(meta, "scale", 0, precision) if "scale" in meta else 0
        kw.update(
            type={"Number": "double", "Currency": "currency", "Percent": "percent"}[kind],
            precision=precision,
            scale=scale,
        )
    elif kind == "Checkbox":
        default = meta.get("defaultValue", "false")
        kw.update(type="boolean", nillable=False, default=str(default).lower() == "true")
        kw["required"] = False
    elif kind == "Date":
        kw.update(type="date")
    elif kind == "DateTime":
        kw.update(type="datetime")
    elif kind == "TextArea":
        kw.update(type="textarea", length=255)
    elif kind in ("LongTextArea", "Html"):
        kw.update(
            type="textarea",
            length=_int_attr(meta, "length", 256, 131072),
            visible_lines=_int_attr(meta, "visibleLines", 1, 50),
            html=kind == "Html",
        )
    elif kind == "Picklist":
        values, restricted = _picklist_from_value_set(meta)
        kw.update(type="picklist", length=255, picklist=values, restricted=restricted)
    else:
        raise _integrity(
            f"type: the sandbox does not support custom fields of type {kind!r} (supported: "
            "Text, Email, Phone, Url, Number, Currency, Percent, Checkbox, Date, DateTime, "
            "TextArea, LongTextArea, Html, Picklist)",
            ["type"],
        )
    if (external_id or unique) and kw["type"] not in ("string", "double", "email"):
        raise _integrity(
            f"externalId: only Text, Number and Email fields can be external ids or unique, "
            f"not {kind}",
            ["externalId"],
        )
    return FieldDef(**kw)
