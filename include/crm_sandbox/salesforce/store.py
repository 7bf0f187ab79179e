"""Records of every emulated sObject, with Salesforce's write rules.

Callers hold the context lock. Writes take an optional undo log so that an all-or-none request
can roll back everything it did.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from crm_sandbox.api import SimClock
from crm_sandbox.salesforce.errors import RecordError, SfError
from crm_sandbox.salesforce.ids import KEY_PREFIXES, make_id, normalize_id
from crm_sandbox.salesforce.schema import FieldDef, ObjectDef, standard_objects
from crm_sandbox.salesforce.values import coerce, format_datetime

Record = dict[str, Any]
UndoLog = list[tuple[str, str, str, Record | None]]
# Called just before a write is applied: an injected per-record failure, or None.
FaultCheck = Callable[[], RecordError | None]

DEFAULT_USERS: list[dict[str, Any]] = [
    {"FirstName": "Handoff", "LastName": "Integration", "Email": "integration@example.com"},
    {"FirstName": "Avery", "LastName": "Chen", "Email": "avery.chen@example.com"},
    {"FirstName": "Blake", "LastName": "Okafor", "Email": "blake.okafor@example.com"},
    {"FirstName": "Carmen", "LastName": "Ruiz", "Email": "carmen.ruiz@example.com"},
    {"FirstName": "Devin", "LastName": "Patel", "Email": "devin.patel@example.com"},
    {
        "FirstName": "Emery",
        "LastName": "Novak",
        "Email": "emery.novak@example.com",
        "IsActive": False,
    },
]


def index_key(value: Any, case_sensitive: bool = False) -> Any:
    if isinstance(value, str):
        return value if case_sensitive else value.lower()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


class UnknownField(SfError):
    def __init__(self, obj: ObjectDef, name: str) -> None:
        super().__init__(
            400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}", []
        )
        self.field_name = name


class Store:
    def __init__(self, clock: SimClock, users: list[dict[str, Any]] | None = None) -> None:
        self.clock = clock
        self.objects: dict[str, ObjectDef] = standard_objects()
        self.records: dict[str, dict[str, Record]] = {name: {} for name in self.objects}
        self.deleted: dict[str, dict[str, Record]] = {name: {} for name in self.objects}
        self.counters: dict[str, int] = {}
        self.index: dict[tuple[str, str], dict[Any, set[str]]] = {}
        self.api_user_id = ""
        self._seed_users(users if users is not None else DEFAULT_USERS)

    # --- schema ---------------------------------------------------------------------------

    def find_object(self, name: str) -> ObjectDef | None:
        obj = self.objects.get(name)
        if obj is not None:
            return obj
        lower = name.lower()
        for candidate in self.objects.values():
            if candidate.name.lower() == lower:
                return candidate
        return None

    def object(self, name: str) -> ObjectDef:
        obj = self.find_object(name)
        if obj is None:
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    def add_field(self, obj: ObjectDef, fdef: FieldDef) -> None:
        obj.fields[fdef.name] = fdef
        if fdef.indexed and fdef.type != "id":
            self._build_index(obj, fdef)

    def remove_field(self, obj: ObjectDef, name: str) -> None:
        obj.fields.pop(name, None)
        self.index.pop((obj.name, name), None)
        for bucket in (self.records[obj.name], self.deleted[obj.name]):
            for rec in bucket.values():
                rec.pop(name, None)

    # --- ids and lookups ------------------------------------------------------------------

    def new_id(self, sobject: str) -> str:
        prefix = KEY_PREFIXES[sobject]
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return make_id(prefix, self.counters[prefix])

    def get(self, sobject: str, record_id: str) -> Record | None:
        rid = normalize_id(record_id)
        return self.records[sobject].get(rid) if rid else None

    def get_any(self, record_id: str) -> tuple[str, Record] | None:
        """A live record of any object, by id."""
        rid = normalize_id(record_id)
        if rid is None:
            return None
        for name, obj in self.objects.items():
            if obj.key_prefix == rid[:3] and rid in self.records[name]:
                return name, self.records[name][rid]
        return None

    def is_deleted(self, sobject: str, record_id: str) -> bool:
        rid = normalize_id(record_id)
        return bool(rid) and rid in self.deleted[sobject]

    def find_by(self, obj: ObjectDef, fdef: FieldDef, value: Any) -> list[str]:
        """Ids of live records whose `fdef` equals `value` (case-insensitive for text)."""
        if fdef.type == "id":
            rid = normalize_id(str(value))
            return [rid] if rid and rid in self.records[obj.name] else []
        key = index_key(coerce(fdef, value), fdef.case_sensitive)
        bucket = self.index.get((obj.name, fdef.name))
        if bucket is not None:
            return sorted(bucket.get(key, ()))
        return [
            rid
            for rid, rec in self.records[obj.name].items()
            if rec.get(fdef.name) is not None
            and index_key(rec[fdef.name], fdef.case_sensitive) == key
        ]

    # --- converting input -----------------------------------------------------------------

    def convert(self, obj: ObjectDef, raw: dict[str, Any], *, csv: bool = False) -> Record:
        """Canonical field names and stored values for a client's field map.

        Raises UnknownField, ValueTypeError (wrong JSON type) or RecordError (field rules,
        foreign keys by external id).
        """
        out: Record = {}
        for key, value in raw.items():
            if key == "attributes":
                continue
            fdef = obj.field(key)
            if fdef is None:
                rel = obj.relationship(key)
                if rel is not None and isinstance(value, dict):
                    out[rel.name] = self._foreign_key(rel, value)
                    continue
                raise UnknownField(obj, key)
            out[fdef.name] = coerce(fdef, value, csv=csv)
        return out

    def _foreign_key(self, rel: FieldDef, value: dict[str, Any]) -> str:
        target_name = rel.reference_to[0]
        attrs = value.get("attributes")
        if isinstance(attrs, dict) and isinstance(attrs.get("type"), str):
            target_name = attrs["type"]
        target = self.find_object(target_name)
        keys = [k for k in value if k != "attributes"]
        if target is None or target.name not in rel.reference_to or len(keys) != 1:
            raise RecordError(
                "INVALID_FIELD",
                f"{rel.relationship_name}: a relationship reference needs exactly one "
                "external id field and, for polymorphic fields, attributes.type",
                [rel.name],
            )
        fdef = target.field(keys[0])
        if fdef is None or not (fdef.external_id or fdef.type == "id"):
            raise RecordError(
                "INVALID_FIELD",
                f"Field name provided, {keys[0]} is not an External ID or indexed field for "
                f"{target.name}",
                [rel.name],
            )
        ids = self.find_by(target, fdef, value[keys[0]])
        if not ids:
            raise RecordError(
                "INVALID_FIELD",
                f"Foreign key external ID: {value[keys[0]]} not found for field {fdef.name} "
                f"in entity {target.name}",
                [rel.name],
            )
        if len(ids) > 1:
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID",
                f"More than 1 record found for External ID field {fdef.name}: {value[keys[0]]}",
                [rel.name],
            )
        return ids[0]

    # --- writing --------------------------------------------------------------------------

    def create(
        self,
        sobject: str,
        values: Record,
        *,
        actor: str | None = None,
        undo: UndoLog | None = None,
        fault: FaultCheck | None = None,
    ) -> str:
        obj = self.object(sobject)
        if not obj.createable:
            raise RecordError(
                "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                f"entity type {obj.name} does not support insert in the sandbox",
            )
        self._check_writable(obj, values, "create")
        actor = actor or self.api_user_id
        rec: Record = {}
        for fdef in obj.fields.values():
            if fdef.default is not None:
                rec[fdef.name] = fdef.default
        rec.update(values)
        if "OwnerId" in obj.fields:
            rec.setdefault("OwnerId", actor)
        self._derive(obj, rec, values, None)
        self._validate(obj, rec, values, None)
        self._inject(fault)
        rid = self.new_id(obj.name)
        now = format_datetime(self.clock.now())
        rec.update(
            Id=rid,
            IsDeleted=False,
            CreatedDate=now,
            CreatedById=actor,
            LastModifiedDate=now,
            LastModifiedById=actor,
            SystemModstamp=now,
        )
        if "IsDeleted" not in obj.fields:
            rec.pop("IsDeleted")
        self.records[obj.name][rid] = rec
        self._index_add(obj, rec)
        if undo is not None:
            undo.append(("insert", obj.name, rid, None))
        return rid

    def update(
        self,
        sobject: str,
        record_id: str,
        values: Record,
        *,
        actor: str | None = None,
        undo: UndoLog | None = None,
        fault: FaultCheck | None = None,
    ) -> str:
        obj = self.object(sobject)
        rid = self._existing_id(obj, record_id)
        self._check_writable(obj, values, "update")
        old = self.records[obj.name][rid]
        rec = dict(old)
        rec.update(values)
        self._derive(obj, rec, values, old)
        self._validate(obj, rec, values, rid)
        self._inject(fault)
        now = format_datetime(self.clock.now())
        rec.update(
            LastModifiedDate=now, LastModifiedById=actor or self.api_user_id, SystemModstamp=now
        )
        self._index_remove(obj, old)
        self.records[obj.name][rid] = rec
        self._index_add(obj, rec)
        if undo is not None:
            undo.append(("update", obj.name, rid, old))
        return rid

    def external_id_field(self, obj: ObjectDef, name: str) -> FieldDef | None:
        """The field `name` when it can be used to upsert (an external id, or Id)."""
        fdef = obj.field(name)
        if fdef is None or not (fdef.external_id or fdef.type == "id"):
            return None
        return fdef

    def upsert(
        self,
        sobject: str,
        ext_field: FieldDef,
        ext_value: Any,
        values: Record,
        *,
        actor: str | None = None,
        undo: UndoLog | None = None,
        fault: FaultCheck | None = None,
    ) -> tuple[str, bool]:
        """Create or update the record whose `ext_field` is `ext_value`: (id, created)."""
        obj = self.object(sobject)
        if ext_value is None or ext_value == "":
            if ext_field.type == "id":
                return self.create(sobject, values, actor=actor, undo=undo, fault=fault), True
            raise RecordError(
                "MISSING_ARGUMENT", f"{ext_field.name} not specified", [ext_field.name]
            )
        matches = self.find_by(obj, ext_field, ext_value)
        if len(matches) > 1:
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID",
                f"The external ID provided matches more than one record: {ext_value}",
                [ext_field.name],
            )
        values = dict(values)
        if ext_field.type == "id":
            values.pop("Id", None)
            if not matches:
                raise RecordError("NOT_FOUND", "The requested resource does not exist", ["Id"])
        if matches:
            if ext_field.name in values and values[ext_field.name] is not None:
                same = self.find_by(obj, ext_field, values[ext_field.name])
                if same != matches:
                    raise RecordError(
                        "INVALID_FIELD",
                        f"The value of {ext_field.name} in the body does not match the "
                        "external id used for the upsert",
                        [ext_field.name],
                    )
                values.pop(ext_field.name)
            rid = self.update(sobject, matches[0], values, actor=actor, undo=undo, fault=fault)
            return rid, False
        values[ext_field.name] = coerce(ext_field, ext_value)
        return self.create(sobject, values, actor=actor, undo=undo, fault=fault), True

    def delete(self, sobject: str, record_id: str, *, undo: UndoLog | None = None) -> str:
        obj = self.object(sobject)
        rid = self._existing_id(obj, record_id)
        old = self.records[obj.name].pop(rid)
        self._index_remove(obj, old)
        now = format_datetime(self.clock.now())
        gone = dict(old, IsDeleted=True, SystemModstamp=now)
        self.deleted[obj.name][rid] = gone
        if undo is not None:
            undo.append(("delete", obj.name, rid, old))
        return rid

    def merge(
        self, sobject: str, master_id: str, loser_ids: list[str], *, actor: str | None = None
    ) -> str:
        """Merge up to two records into `master_id`, as Salesforce's merge() does: records
        related to the losers move to the master, the losers are deleted with
        MasterRecordId = the master's Id, and the master keeps its Id and values."""
        obj = self.object(sobject)
        if obj.name not in ("Account", "Contact", "Lead"):
            raise RecordError("INVALID_TYPE", f"merge is not supported for {obj.name}")
        master = self._existing_id(obj, master_id)
        losers = [self._existing_id(obj, rid) for rid in loser_ids]
        if not losers or len(losers) > 2 or master in losers or len(set(losers)) != len(losers):
            raise RecordError(
                "INVALID_OPERATION", "merge takes a master and one or two other records"
            )
        related = {"Account": [("Contact", "AccountId"), ("Opportunity", "AccountId")]}
        children = [*related.get(obj.name, []), ("Task", "WhatId"), ("Task", "WhoId")]
        for loser in losers:
            for child, field in children:
                if obj.name not in self.objects[child].fields[field].reference_to:
                    continue
                for rid, rec in list(self.records[child].items()):
                    if rec.get(field) == loser:
                        self.update(child, rid, {field: master}, actor=actor)
        self.update(obj.name, master, {}, actor=actor)
        for loser in losers:
            self.delete(obj.name, loser)
            self.deleted[obj.name][loser]["MasterRecordId"] = master
        return master

    def rollback(self, undo: UndoLog) -> None:
        for op, sobject, rid, old in reversed(undo):
            obj = self.objects[sobject]
            current = self.records[sobject].pop(rid, None)
            if current is not None:
                self._index_remove(obj, current)
            if op == "delete":
                self.deleted[sobject].pop(rid, None)
            if old is not None:
                self.records[sobject][rid] = old
                self._index_add(obj, old)
        undo.clear()

    def _existing_id(self, obj: ObjectDef, record_id: str) -> str:
        rid = normalize_id(record_id)
        if rid is None or rid[:3] != obj.key_prefix:
            raise RecordError(
                "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        if rid in self.records[obj.name]:
            return rid
        if rid in self.deleted[obj.name]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
        raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])

    def _check_writable(self, obj: ObjectDef, values: Record, op: str) -> None:
        bad = [
            name
            for name in values
            if not (obj.fields[name].createable if op == "create" else obj.fields[name].updateable)
        ]
        if bad:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(bad)}. Please check the security "
                "settings of this field and verify that it is read/write for your role or "
                "permission set.",
                bad,
            )

    def _derive(self, obj: ObjectDef, rec: Record, values: Record, old: Record | None) -> None:
        if obj.compound_name:
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        if obj.name == "Opportunity" and rec.get("StageName"):
            stage = obj.fields["StageName"].picklist_value(rec["StageName"])
            if stage is not None:
                rec["IsClosed"] = stage.closed
                rec["IsWon"] = stage.won
                stage_changed = old is None or old.get("StageName") != rec["StageName"]
                if stage_changed and "Probability" not in values:
                    rec["Probability"] = stage.probability
        if obj.name == "Task":
            status = obj.fields["Status"].picklist_value(rec.get("Status") or "")
            closed = bool(status and status.closed)
            rec["IsClosed"] = closed
            if closed and not rec.get("CompletedDateTime"):
                rec["CompletedDateTime"] = format_datetime(self.clock.now())
            elif not closed:
                rec["CompletedDateTime"] = None

    def _validate(self, obj: ObjectDef, rec: Record, values: Record, rid: str | None) -> None:
        missing = [
            f.name
            for f in obj.fields.values()
            if f.required and (rec.get(f.name) is None or rec.get(f.name) == "")
        ]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        for name, value in values.items():
            fdef = obj.fields[name]
            if fdef.type == "reference" and value is not None:
                rec[name] = self._check_reference(fdef, value)
            elif value is None and not fdef.nillable and fdef.type != "boolean":
                raise RecordError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
                )
        for fdef in obj.fields.values():
            if not fdef.unique or fdef.name not in values or rec.get(fdef.name) is None:
                continue
            others = [o for o in self.find_by(obj, fdef, rec[fdef.name]) if o != rid]
            if others:
                raise RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {fdef.name} duplicates value on record with id: "
                    f"{others[0]}",
                    [],
                )

    def _check_reference(self, fdef: FieldDef, value: str) -> str:
        rid = normalize_id(value)
        if rid is None:
            raise RecordError(
                "MALFORMED_ID", f"{fdef.label}: id value of incorrect type: {value}", [fdef.name]
            )
        targets = [self.objects[t] for t in fdef.reference_to if t in self.objects]
        target = next((t for t in targets if t.key_prefix == rid[:3]), None)
        if target is None:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{fdef.label}: id value of incorrect type: {value}",
                [fdef.name],
            )
        ref = self.records[target.name].get(rid)
        if ref is None:
            if rid in self.deleted[target.name]:
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [fdef.name])
            raise RecordError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fdef.name]
            )
        if target.name == "User" and fdef.name == "OwnerId" and not ref.get("IsActive", True):
            raise RecordError(
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{rid}] as owner",
                [fdef.name],
            )
        return rid

    @staticmethod
    def _inject(fault: FaultCheck | None) -> None:
        failure = fault() if fault is not None else None
        if failure is not None:
            raise failure

    # --- indexes --------------------------------------------------------------------------

    def _indexed_fields(self, obj: ObjectDef) -> Iterable[FieldDef]:
        return (f for f in obj.fields.values() if f.indexed and f.type != "id")

    def _index_add(self, obj: ObjectDef, rec: Record) -> None:
        for fdef in self._indexed_fields(obj):
            value = rec.get(fdef.name)
            if value is not None:
                bucket = self.index.setdefault((obj.name, fdef.name), {})
                bucket.setdefault(index_key(value, fdef.case_sensitive), set()).add(rec["Id"])

    def _index_remove(self, obj: ObjectDef, rec: Record) -> None:
        for fdef in self._indexed_fields(obj):
            value = rec.get(fdef.name)
            bucket = self.index.get((obj.name, fdef.name))
            if value is None or bucket is None:
                continue
            key = index_key(value, fdef.case_sensitive)
            ids = bucket.get(key)
            if ids:
                ids.discard(rec["Id"])
                if not ids:
                    del bucket[key]

    def _build_index(self, obj: ObjectDef, fdef: FieldDef) -> None:
        bucket: dict[Any, set[str]] = {}
        for rec in self.records[obj.name].values():
            value = rec.get(fdef.name)
            if value is not None:
                bucket.setdefault(index_key(value, fdef.case_sensitive), set()).add(rec["Id"])
        self.index[(obj.name, fdef.name)] = bucket

    def rebuild_indexes(self) -> None:
        self.index = {}
        for obj in self.objects.values():
            for fdef in self._indexed_fields(obj):
                self._build_index(obj, fdef)

    # --- users ----------------------------------------------------------------------------

    def _seed_users(self, users: list[dict[str, Any]]) -> None:
        obj = self.objects["User"]
        now = format_datetime(self.clock.now())
        for i, spec in enumerate(users):
            rid = self.new_id("User")
            first = spec.get("FirstName")
            last = spec.get("LastName") or f"User{i + 1}"
            email = spec.get("Email") or f"user{i + 1}@example.com"
            rec = {
                "Id": rid,
                "Username": spec.get("Username") or email,
                "FirstName": first,
                "LastName": last,
                "Name": " ".join(p for p in (first, last) if p),
                "Alias": spec.get("Alias") or ((first or "")[:1] + last)[:8].lower(),
                "Email": email,
                "Title": spec.get("Title"),
                "IsActive": bool(spec.get("IsActive", True)),
                "CreatedDate": now,
                "LastModifiedDate": now,
                "SystemModstamp": now,
            }
            self.records["User"][rid] = rec
            if not self.api_user_id:
                self.api_user_id = rid
        for rec in self.records["User"].values():
            rec["CreatedById"] = rec["LastModifiedById"] = self.api_user_id
            self._index_add(obj, rec)

    # --- state ----------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        return {
            "custom_fields": {
                name: [f.to_state() for f in obj.fields.values() if f.custom]
                for name, obj in self.objects.items()
            },
            "records": copy.deepcopy(self.records),
            "deleted": copy.deepcopy(self.deleted),
            "counters": dict(self.counters),
            "api_user_id": self.api_user_id,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.objects = standard_objects()
        for name, fields in data.get("custom_fields", {}).items():
            for fstate in fields:
                fdef = FieldDef.from_state(fstate)
                self.objects[name].fields[fdef.name] = fdef
        self.records = {name: {} for name in self.objects}
        self.deleted = {name: {} for name in self.objects}
        for name, recs in data.get("records", {}).items():
            self.records[name] = copy.deepcopy(recs)
        for name, recs in data.get("deleted", {}).items():
            self.deleted[name] = copy.deepcopy(recs)
        self.counters = dict(data.get("counters", {}))
        self.api_user_id = data.get("api_user_id") or next(iter(self.records["User"]), "")
        self.rebuild_indexes()
