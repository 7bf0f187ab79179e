"""Tooling API: create, read, delete and query `CustomField` records."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from crm_sandbox.salesforce.errors import SfError, not_found
from crm_sandbox.salesforce.ids import normalize_id
from crm_sandbox.salesforce.query import Result, Source, execute
from crm_sandbox.salesforce.schema import FieldDef, ObjectDef, custom_field_from_metadata
from crm_sandbox.salesforce.soql import parse
from crm_sandbox.salesforce.store import Record, Store
from crm_sandbox.salesforce.values import format_datetime


def _tooling_object() -> ObjectDef:
    def text(name: str, label: str, length: int = 255) -> FieldDef:
        return FieldDef(name=name, label=label, type="string", length=length, updateable=False)

    fields = [
        FieldDef(name="Id", label="Custom Field Definition ID", type="id", length=18),
        text("DeveloperName", "Field Name", 40),
        text("TableEnumOrId", "Table Enum or ID", 40),
        text("FullName", "Full Name"),
        text("NamespacePrefix", "Namespace Prefix", 15),
        text("Description", "Description"),
        FieldDef(name="CreatedDate", label="Created Date", type="datetime"),
        FieldDef(name="LastModifiedDate", label="Last Modified Date", type="datetime"),
    ]
    return ObjectDef(
        name="CustomField",
        label="Custom Field Definition",
        label_plural="Custom Field Definitions",
        key_prefix="00N",
        fields={f.name: f for f in fields},
        createable=True,
    )


CUSTOM_FIELD = _tooling_object()


def _custom_fields(store: Store) -> Iterable[tuple[ObjectDef, FieldDef]]:
    for obj in store.objects.values():
        for fdef in obj.fields.values():
            if fdef.custom and fdef.tooling_id:
                yield obj, fdef


def _row(obj: ObjectDef, fdef: FieldDef) -> Record:
    return {
        "Id": fdef.tooling_id,
        "DeveloperName": fdef.name[: -len("__c")],
        "TableEnumOrId": obj.name,
        "FullName": f"{obj.name}.{fdef.name}",
        "NamespacePrefix": None,
        "Description": (fdef.metadata or {}).get("description"),
        "CreatedDate": fdef.created,
        "LastModifiedDate": fdef.created,
    }


def create_custom_field(store: Store, body: Any) -> str:
    if not isinstance(body, dict):
        raise SfError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    full_name = body.get("FullName")
    meta = body.get("Metadata")
    if not isinstance(full_name, str) or "." not in full_name:
        raise SfError(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            "FullName: give the field as Object.Field__c, e.g. Account.Handoff_Key__c",
            ["FullName"],
        )
    if not isinstance(meta, dict):
        raise SfError(400, "FIELD_INTEGRITY_EXCEPTION", "Metadata: You must enter a value", [])
    object_name, _, api_name = full_name.partition(".")
    obj = store.find_object(object_name)
    if obj is None:
        raise SfError(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            f"FullName: the object {object_name!r} does not exist",
            ["FullName"],
        )
    existing = obj.field(api_name)
    if existing is not None:
        raise SfError(
            400,
            "DUPLICATE_DEVELOPER_NAME",
            f"There is already a field named {api_name[: -len('__c')] or api_name} on {obj.name}.",
            [],
        )
    fdef = custom_field_from_metadata(obj, api_name, meta)
    fdef.tooling_id = store.new_id("CustomField")
    fdef.created = format_datetime(store.clock.now())
    fdef.metadata = copy.deepcopy(meta)
    store.add_field(obj, fdef)
    return fdef.tooling_id


def _find(store: Store, field_id: str) -> tuple[ObjectDef, FieldDef]:
    rid = normalize_id(field_id)
    for obj, fdef in _custom_fields(store):
        if fdef.tooling_id == rid:
            return obj, fdef
    raise not_found()


def get_custom_field(store: Store, field_id: str, version: str) -> Record:
    obj, fdef = _find(store, field_id)
    row = _row(obj, fdef)
    return {
        "attributes": {
            "type": "CustomField",
            "url": f"/services/data/v{version}/tooling/sobjects/CustomField/{fdef.tooling_id}",
        },
        **row,
        "Metadata": copy.deepcopy(fdef.metadata),
    }


def delete_custom_field(store: Store, field_id: str) -> None:
    obj, fdef = _find(store, field_id)
    store.remove_field(obj, fdef.name)


def query(store: Store, text: str, version: str) -> Result:
    rows = [_row(obj, fdef) for obj, fdef in _custom_fields(store)]
    by_id = {row["Id"]: row for row in rows}

    def find_object(name: str) -> ObjectDef | None:
        return CUSTOM_FIELD if name.lower() == "customfield" else None

    def lookup(record_id: str) -> tuple[ObjectDef, Record] | None:
        row = by_id.get(record_id)
        return (CUSTOM_FIELD, row) if row else None

    source = Source(
        find_object=find_object,
        rows=lambda _obj, _deleted: rows,
        lookup=lookup,
        now=store.clock.now,
    )
    result = execute(parse(text), source, version)
    for row in result.records:
        attrs = row.get("attributes", {})
        if "url" in attrs:
            attrs["url"] = attrs["url"].replace("/sobjects/", "/tooling/sobjects/")
    return result
