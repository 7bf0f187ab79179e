"""HubSpot portal state: objects, properties, groups, associations; validation and writes.

Every method expects the caller to hold `ctx.lock`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from crm_sandbox.api import SandboxContext
from crm_sandbox.hubspot import reference
from crm_sandbox.hubspot.errors import HubSpotError, not_found, property_errors, validation_error
from crm_sandbox.hubspot.schema import (
    CREATED,
    DEFAULT_GROUPS,
    DEFAULT_RETURNED,
    LAST_MODIFIED,
    OBJECT_TYPES,
    SINGULAR,
    InvalidValue,
    PropertyDef,
    format_datetime,
    normalize_value,
)

FIRST_ID = 10_000_001
SYSTEM_PROPERTIES = {"hs_object_id"}
MERGED_IDS = "hs_merged_object_ids"
# properties whose changes are not kept in the property history (they change on every write)
UNTRACKED = {"hs_object_id", *LAST_MODIFIED.values()}
HISTORY_BATCH_LIMIT = 50  # batch reads with propertiesWithHistory take at most 50 inputs


@dataclass
class Record:
    id: str
    properties: dict[str, str]
    createdAt: str
    updatedAt: str
    archived: bool = False
    archivedAt: str | None = None
    mergedInto: str | None = None  # merged: the record that replaced this one


@dataclass
class Group:
    name: str
    label: str
    displayOrder: int = -1
    archived: bool = False


@dataclass
class WritePlan:
    """A validated write, applied only once the whole batch is known to go through."""

    kind: str  # "create" | "update"
    changes: dict[str, str | None]
    record_id: str | None = None
    trace_id: str | None = None
    associations: list[tuple[str, str, int]] = field(default_factory=list)
    source: str = "API"  # the property history's sourceType (CRM_UI for simulated reps)


def object_type(raw: str) -> str:
    try:
        return OBJECT_TYPES[raw.lower()]
    except KeyError:
        raise HubSpotError(
            400,
            "VALIDATION_ERROR",
            f"Unable to infer object type from: {raw}",
        ) from None


def unique_key(type_: str, prop: str, value: str) -> str:
    return value.lower() if (type_, prop) == ("contacts", "email") else value


class HubSpotStore:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.reset()

    # --- lifecycle -----------------------------------------------------------------------
    def reset(self) -> None:
        from crm_sandbox.hubspot.schema import default_properties

        self.next_id = FIRST_ID
        self.objects: dict[str, dict[str, Record]] = {t: {} for t in SINGULAR}
        self.properties: dict[str, dict[str, PropertyDef]] = {
            t: {p.name: p for p in props} for t, props in default_properties().items()
        }
        for props in self.properties.values():
            for prop in props.values():
                prop.createdAt = prop.updatedAt = reference.EPOCH
        self.groups: dict[str, dict[str, Group]] = {
            t: {name: Group(name, label, i) for i, (name, label) in enumerate(groups)}
            for t, groups in DEFAULT_GROUPS.items()
        }
        # (type, id) -> {(to type, to id): {association type ids}}
        self.associations: dict[tuple[str, str], dict[tuple[str, str], set[int]]] = {}
        self.unique: dict[str, dict[str, dict[str, str]]] = {}
        # type -> record id -> property -> [{value, timestamp, sourceType}], oldest first
        self.history: dict[str, dict[str, dict[str, list[dict[str, str]]]]] = {
            t: {} for t in SINGULAR
        }
        self._rebuild_unique()

    def dump(self) -> dict[str, Any]:
        return {
            "next_id": self.next_id,
            "objects": {
                t: [asdict(r) for r in records.values()] for t, records in self.objects.items()
            },
            "properties": {
                t: [p.dump() for p in props.values()] for t, props in self.properties.items()
            },
            "groups": {t: [asdict(g) for g in gs.values()] for t, gs in self.groups.items()},
            "associations": [
                [f[0], f[1], to[0], to[1], sorted(types)]
                for f, targets in self.associations.items()
                for to, types in targets.items()
            ],
            "history": self.history,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.reset()
        self.next_id = int(data.get("next_id", FIRST_ID))
        for t, records in data.get("objects", {}).items():
            self.objects[t] = {r["id"]: Record(**r) for r in records}
        for t, props in data.get("properties", {}).items():
            self.properties[t] = {p["name"]: PropertyDef.load(p) for p in props}
        for t, groups in data.get("groups", {}).items():
            self.groups[t] = {g["name"]: Group(**g) for g in groups}
        for from_type, from_id, to_type, to_id, types in data.get("associations", []):
            self.associations.setdefault((from_type, from_id), {})[(to_type, to_id)] = set(types)
        for t, records in data.get("history", {}).items():
            self.history[t] = records
        self._rebuild_unique()

    def _rebuild_unique(self) -> None:
        self.unique = {t: {} for t in self.objects}
        for t, props in self.properties.items():
            for prop in props.values():
                if prop.hasUniqueValue and not prop.archived:
                    index = self.unique[t].setdefault(prop.name, {})
                    for record in self.objects[t].values():
                        value = record.properties.get(prop.name)
                        if value is not None and not record.archived:
                            index[unique_key(t, prop.name, value)] = record.id

    # --- helpers -------------------------------------------------------------------------
    def now(self) -> str:
        return format_datetime(self.ctx.clock.now())

    def portal_id(self) -> int:
        return int(self.ctx.settings.get("hubspot_portal_id", 0))

    def prop(self, type_: str, name: str) -> PropertyDef | None:
        prop = self.properties[type_].get(name)
        return prop if prop is not None and not prop.archived else None

    def live(self, type_: str, record_id: str) -> Record | None:
        record = self.objects[type_].get(str(record_id))
        return record if record is not None and not record.archived else None

    def resolve(self, type_: str, record_id: str) -> Record | None:
        """The live record an id names, following merges (old ids point at the merged
        record, as in HubSpot)."""
        record = self.objects[type_].get(str(record_id))
        for _ in range(100):
            if record is None or record.mergedInto is None:
                break
            record = self.objects[type_].get(record.mergedInto)
        return record if record is not None and not record.archived else None

    def get(self, type_: str, record_id: str, id_property: str | None = None) -> Record:
        if id_property and id_property != "hs_object_id":
            prop = self.prop(type_, id_property)
            if prop is None or not prop.hasUniqueValue:
                raise validation_error(
                    f"{id_property} is not a unique property of {type_}: "
                    "idProperty must have hasUniqueValue"
                )
            found = (
                self.unique[type_]
                .get(id_property, {})
                .get(unique_key(type_, id_property, str(record_id)))
            )
            record = self.live(type_, found) if found else None
        else:
            record = self.resolve(type_, record_id)
        if record is None:
            raise not_found(f"Object not found. objectId are usually numeric. id={record_id}")
        return record

    def allowed_options(
        self, type_: str, prop: PropertyDef, pending: dict[str, Any], record: Record | None
    ) -> list[str] | None:
        if prop.dynamicOptions == "owners":
            return [o["id"] for o in reference.owners(self.ctx.settings.get("hubspot_owners"))]
        if prop.dynamicOptions == "pipelines":
            return [p["id"] for p in reference.deal_pipelines()]
        if prop.dynamicOptions == "stages":
            pipeline = pending.get("pipeline") or (
                record.properties.get("pipeline") if record else None
            )
            return reference.stage_ids(str(pipeline or "default")) or []
        return None

    # --- validation ----------------------------------------------------------------------
    def validate(self, type_: str, raw: Any, record: Record | None = None) -> dict[str, str | None]:
        """Normalised changes, or a 400 VALIDATION_ERROR listing every bad property."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise validation_error("Invalid input JSON: properties must be an object")
        changes: dict[str, str | None] = {}
        problems: list[InvalidValue] = []
        for name, value in raw.items():
            prop = self.prop(type_, name)
            if prop is None:
                problems.append(
                    InvalidValue(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                )
                continue
            if prop.readOnlyValue or name in SYSTEM_PROPERTIES:
                problems.append(
                    InvalidValue(
                        name,
                        "READ_ONLY_VALUE",
                        f'Property "{name}" is a read only property; its value cannot be set.',
                    )
                )
                continue
            try:
                allowed = self.allowed_options(type_, prop, raw, record)
                changes[name] = normalize_value(prop, value, allowed)
            except InvalidValue as exc:
                problems.append(exc)
        if problems:
            raise property_errors([p.result(self.portal_id()) for p in problems])
        return changes

    def check_unique(
        self,
        type_: str,
        changes: dict[str, str | None],
        record_id: str | None,
        pending: dict[tuple[str, str], str],
        pending_owner: str,
    ) -> None:
        """409 CONFLICT when a unique value is taken (in the portal or earlier in the batch)."""
        for name, value in changes.items():
            prop = self.prop(type_, name)
            if value is None or prop is None or not prop.hasUniqueValue:
                continue
            key = unique_key(type_, name, value)
            owner = self.unique[type_].get(name, {}).get(key)
            if owner is not None and owner != record_id:
                raise self.conflict(type_, name, value, owner)
            claimant = pending.get((name, key))
            if claimant is not None and claimant != pending_owner:
                raise validation_error(
                    f"Duplicate values for unique property {name} in batch input: {value}"
                )
        for name, value in changes.items():
            prop = self.prop(type_, name)
            if value is not None and prop is not None and prop.hasUniqueValue:
                pending[(name, unique_key(type_, name, value))] = pending_owner

    @staticmethod
    def conflict(type_: str, name: str, value: str, owner: str) -> HubSpotError:
        if (type_, name) == ("contacts", "email"):
            message = f"Contact already exists. Existing ID: {owner}"
        else:
            message = (
                f'A {SINGULAR[type_]} with {name} "{value}" already exists '
                f"(hasUniqueValue). Existing ID: {owner}"
            )
        return HubSpotError(409, "CONFLICT", message)

    def check_required(self, type_: str, changes: dict[str, str | None]) -> None:
        if type_ == "tasks" and not changes.get("hs_timestamp"):
            raise property_errors(
                [
                    InvalidValue(
                        "hs_timestamp",
                        "REQUIRED_PROPERTY",
                        'Property "hs_timestamp" is required to create a task',
                    ).result(self.portal_id())
                ]
            )

    def parse_associations(self, type_: str, raw: Any) -> list[tuple[str, str, int]]:
        """`associations` of a create input -> [(to type, to id, association type id)]."""
        if not raw:
            return []
        if not isinstance(raw, list):
            raise validation_error("associations must be a list")
        out = []
        for item in raw:
            try:
                to_id = str(item["to"]["id"])
                specs = item["types"]
            except (KeyError, TypeError):
                raise validation_error(
                    "each association needs to.id and types[associationCategory,associationTypeId]"
                ) from None
            for spec in specs:
                type_id = int(spec.get("associationTypeId", -1))
                known = reference.ASSOCIATION_TYPES.get(type_id)
                if known is None or known[0] != type_:
                    raise validation_error(
                        f"association type id {type_id} is not valid from {type_}"
                    )
                to_type = known[1]
                if self.live(to_type, to_id) is None:
                    raise validation_error(
                        f"One or more associations are invalid: {SINGULAR[to_type]} {to_id} "
                        "does not exist"
                    )
                out.append((to_type, to_id, type_id))
        return out

    # --- planning ------------------------------------------------------------------------
    def plan_create(
        self,
        type_: str,
        item: Any,
        pending: dict[tuple[str, str], str],
        owner: str,
        fault_key: str | None = None,
        path: str | None = None,
    ) -> WritePlan:
        if not isinstance(item, dict):
            raise validation_error("each input must be an object with properties")
        changes = self.validate(type_, item.get("properties"))
        self._fault(fault_key or f"{type_}:create:{sorted(changes.items())}", path, changes)
        self.check_required(type_, changes)
        self.check_unique(type_, changes, None, pending, owner)
        return WritePlan(
            "create",
            changes,
            trace_id=item.get("objectWriteTraceId"),
            associations=self.parse_associations(type_, item.get("associations")),
        )

    def plan_update(
        self,
        type_: str,
        record: Record,
        item: dict[str, Any],
        pending: dict[tuple[str, str], str],
        path: str | None = None,
        fault_key: str | None = None,
    ) -> WritePlan:
        changes = self.validate(type_, item.get("properties"), record)
        self._fault(fault_key or f"{type_}:{record.id}", path, changes)
        self.check_unique(type_, changes, record.id, pending, record.id)
        return WritePlan(
            "update", changes, record_id=record.id, trace_id=item.get("objectWriteTraceId")
        )

    def _fault(self, key: str, path: str | None, changes: dict[str, Any]) -> None:
        faults = self.ctx.faults
        if faults is not None and faults.record_fails(key, path):
            name = next(iter(changes), "properties")
            raise property_errors(
                [
                    InvalidValue(
                        name,
                        "INVALID_VALUE",
                        f'Value of "{name}" was rejected (sandbox fault injection)',
                    ).result(self.portal_id())
                ]
            )

    # --- writes --------------------------------------------------------------------------
    def apply(self, type_: str, plan: WritePlan) -> tuple[Record, bool]:
        """Apply a plan; returns the record and whether it was created."""
        now = self.now()
        if plan.kind == "create":
            record_id = str(self.next_id)
            self.next_id += 1
            props = {k: v for k, v in plan.changes.items() if v is not None}
            for name in CREATED[type_]:
                props.setdefault(name, now)
            props[LAST_MODIFIED[type_]] = now
            props["hs_object_id"] = record_id
            record = Record(record_id, props, createdAt=props[CREATED[type_][0]], updatedAt=now)
            self.objects[type_][record_id] = record
            self._track(type_, record_id, props, now, plan.source)
            self._index(type_, record, {})
            for to_type, to_id, type_id in plan.associations:
                self.associate(type_, record_id, to_type, to_id, type_id)
            return record, True
        assert plan.record_id is not None
        record = self.objects[type_][plan.record_id]
        before = dict(record.properties)
        changed: dict[str, str | None] = {}
        for name, value in plan.changes.items():
            if record.properties.get(name) != value:
                changed[name] = value
                if value is None:
                    record.properties.pop(name, None)
                else:
                    record.properties[name] = value
        if changed:
            self._track(type_, record.id, changed, now, plan.source)
            record.updatedAt = now
            record.properties[LAST_MODIFIED[type_]] = now
            self._index(type_, record, before)
        return record, False

    def _index(self, type_: str, record: Record, before: dict[str, str]) -> None:
        for name, index in self.unique[type_].items():
            old, new = before.get(name), record.properties.get(name)
            if old is not None and index.get(unique_key(type_, name, old)) == record.id:
                del index[unique_key(type_, name, old)]
            if new is not None and not record.archived:
                index[unique_key(type_, name, new)] = record.id

    def archive(self, type_: str, record_id: str) -> bool:
        record = self.live(type_, record_id)
        if record is None:
            return False
        before = dict(record.properties)
        record.archived = True
        record.archivedAt = self.now()
        self._index(type_, record, before)  # archived records leave the unique indexes
        return True

    def set_system(self, type_: str, record_id: str, changes: dict[str, str | None]) -> Record:
        """Write without API validation (simulated reps; still bumps last-modified)."""
        plan = WritePlan("update", changes, record_id=record_id, source="CRM_UI")
        return self.apply(type_, plan)[0]

    # --- property history ----------------------------------------------------------------
    def _track(
        self, type_: str, record_id: str, changes: dict[str, str | None], now: str, source: str
    ) -> None:
        entries = self.history[type_].setdefault(record_id, {})
        for name, value in changes.items():
            if name in UNTRACKED:
                continue
            entries.setdefault(name, []).append(
                {"value": "" if value is None else value, "timestamp": now, "sourceType": source}
            )

    def property_history(self, type_: str, record_id: str, names: list[str]) -> dict[str, list]:
        """HubSpot's propertiesWithHistory: per property, its values newest first."""
        entries = self.history[type_].get(record_id, {})
        return {name: [dict(e) for e in reversed(entries.get(name, []))] for name in names}

    # --- merges --------------------------------------------------------------------------
    def merge(self, type_: str, primary_id: str, merged_id: str) -> Record:
        """Merge two records the way HubSpot does since 2024: a new record (new id) holds the
        primary's values, with the other record's values where the primary has none; both
        old ids point at it (reads by them return it), `hs_merged_object_ids` lists them,
        associations of both move to it and both property histories are kept."""
        primary = self.resolve(type_, primary_id)
        other = self.resolve(type_, merged_id)
        if primary is None or other is None:
            missing = primary_id if primary is None else merged_id
            raise not_found(f"Object not found. objectId are usually numeric. id={missing}")
        if primary.id == other.id:
            raise validation_error("Cannot merge an object with itself")
        now = self.now()
        props = {k: v for k, v in other.properties.items() if v is not None}
        props.update({k: v for k, v in primary.properties.items() if v is not None})
        merged_ids: list[str] = []
        for record in (primary, other):
            merged_ids += [i for i in (record.properties.get(MERGED_IDS) or "").split(";") if i]
            merged_ids.append(record.id)
        for record in (primary, other):  # the old records leave the unique indexes
            before = dict(record.properties)
            record.archived = True
            record.archivedAt = now
            self._index(type_, record, before)
        record_id = str(self.next_id)
        self.next_id += 1
        props.update(
            {
                MERGED_IDS: ";".join(dict.fromkeys(merged_ids)),
                LAST_MODIFIED[type_]: now,
                "hs_object_id": record_id,
            }
        )
        record = Record(record_id, props, createdAt=primary.createdAt, updatedAt=now)
        self.objects[type_][record_id] = record
        history: dict[str, list[dict[str, str]]] = {}
        for old in (other, primary):
            for name, entries in self.history[type_].get(old.id, {}).items():
                history.setdefault(name, []).extend(dict(e) for e in entries)
        for entries in history.values():
            entries.sort(key=lambda e: e["timestamp"])
        self.history[type_][record_id] = history
        self._track(type_, record_id, {MERGED_IDS: props[MERGED_IDS]}, now, "MERGE")
        self._index(type_, record, {})
        for old in (primary, other):
            old.mergedInto = record_id
            for (to_type, to_id), types in list(self.associations.get((type_, old.id), {}).items()):
                if (to_type, to_id) in ((type_, primary.id), (type_, other.id)):
                    continue
                for type_id in types:
                    self.associate(type_, record_id, to_type, to_id, type_id)
                self.dissociate(type_, old.id, to_type, to_id)
        return record

    # --- associations --------------------------------------------------------------------
    def associate(
        self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int
    ) -> None:
        inverse = reference.ASSOCIATION_TYPES[type_id][3]
        self.associations.setdefault((from_type, from_id), {}).setdefault(
            (to_type, to_id), set()
        ).add(type_id)
        self.associations.setdefault((to_type, to_id), {}).setdefault(
            (from_type, from_id), set()
        ).add(inverse)

    def dissociate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.associations.get((from_type, from_id), {}).pop((to_type, to_id), None)
        self.associations.get((to_type, to_id), {}).pop((from_type, from_id), None)

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[tuple[str, set[int]]]:
        targets = self.associations.get((from_type, str(from_id)), {})
        out = [
            (to_id, types)
            for (t, to_id), types in targets.items()
            if t == to_type and self.live(t, to_id) is not None
        ]
        return sorted(out, key=lambda item: int(item[0]) if item[0].isdigit() else 0)

    # --- rendering -----------------------------------------------------------------------
    def render(
        self,
        type_: str,
        record: Record,
        properties: list[str] | None = None,
        associations: list[str] | None = None,
        with_history: list[str] | None = None,
    ) -> dict[str, Any]:
        names = properties if properties else list(DEFAULT_RETURNED[type_])
        body: dict[str, Any] = {
            "id": record.id,
            "properties": {name: record.properties.get(name) for name in names},
            "createdAt": record.createdAt,
            "updatedAt": record.updatedAt,
            "archived": record.archived,
        }
        if record.archivedAt:
            body["archivedAt"] = record.archivedAt
        if with_history:
            body["propertiesWithHistory"] = self.property_history(type_, record.id, with_history)
        if associations:
            assoc: dict[str, Any] = {}
            for raw in associations:
                to_type = OBJECT_TYPES.get(raw.lower())
                if to_type is None:
                    continue
                found = self.associated(type_, record.id, to_type)
                if found:
                    assoc[to_type] = {
                        "results": [
                            {"id": to_id, "type": f"{SINGULAR[type_]}_to_{SINGULAR[to_type]}"}
                            for to_id, _types in found
                        ]
                    }
            if assoc:
                body["associations"] = assoc
        return body

    def render_written(self, type_: str, record: Record, plan: WritePlan) -> dict[str, Any]:
        """Properties a write returns: the ones written plus the default set."""
        names = list(dict.fromkeys([*DEFAULT_RETURNED[type_], *plan.changes]))
        body = self.render(type_, record, names)
        body["properties"] = {k: v for k, v in body["properties"].items() if v is not None}
        if plan.trace_id:
            body["objectWriteTraceId"] = plan.trace_id
        return body
