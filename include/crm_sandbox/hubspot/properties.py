"""CRM v3 properties and property groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from crm_sandbox.hubspot.errors import HubSpotError, validation_error
from crm_sandbox.hubspot.http import hubspot_errors, inputs_of, query_bool, read_json
from crm_sandbox.hubspot.schema import (
    FIELD_TYPES,
    NAME_PATTERN,
    PROPERTY_TYPES,
    Option,
    PropertyDef,
)
from crm_sandbox.hubspot.store import Group, HubSpotStore, object_type

if TYPE_CHECKING:
    from crm_sandbox.hubspot.api import HubSpotApi

UPDATABLE = {
    "label",
    "description",
    "groupName",
    "options",
    "displayOrder",
    "hidden",
    "formField",
    "type",
    "fieldType",
}


def _options(raw: Any, type_: str) -> list[Option]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise validation_error("options must be a list")
    out, seen = [], set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "value" not in item or "label" not in item:
            raise validation_error("each option needs a label and a value")
        value = str(item["value"])
        if value in seen:
            raise validation_error(f"Duplicate option value {value!r}")
        seen.add(value)
        out.append(
            Option(
                label=str(item["label"]),
                value=value,
                displayOrder=int(item.get("displayOrder", i)),
                hidden=bool(item.get("hidden", False)),
                description=str(item.get("description", "")),
            )
        )
    if type_ == "enumeration" and not out:
        raise validation_error("An enumeration property needs at least one option")
    if type_ == "bool" and not out:
        out = [Option("Yes", "true", 0), Option("No", "false", 1)]
    return out


def _check_types(type_: str, field_type: str) -> None:
    if type_ not in PROPERTY_TYPES:
        raise validation_error(
            f"Invalid property type {type_!r}; valid types: {sorted(PROPERTY_TYPES)}"
        )
    if field_type not in FIELD_TYPES[type_]:
        raise validation_error(
            f"fieldType {field_type!r} is not valid for type {type_!r}; "
            f"valid: {sorted(FIELD_TYPES[type_])}"
        )


def create_property(store: HubSpotStore, type_: str, body: Any) -> PropertyDef:
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected a property object")
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
    if missing:
        raise validation_error(f"Some required fields were not set: {missing}")
    name = str(body["name"])
    if not NAME_PATTERN.match(name):
        raise validation_error(
            f"Property name {name!r} is invalid: use lowercase letters, digits and underscores, "
            "starting with a letter"
        )
    existing = store.properties[type_].get(name)
    if existing is not None:
        raise HubSpotError(
            409,
            "OBJECT_ALREADY_EXISTS",
            f"Property named '{name}' already exists.",
            sub_category="Property.PROPERTY_ALREADY_EXISTS",
        )
    type_name, field_type = str(body["type"]), str(body["fieldType"])
    _check_types(type_name, field_type)
    group = store.groups[type_].get(str(body["groupName"]))
    if group is None or group.archived:
        raise validation_error(f"Property group {body['groupName']!r} does not exist")
    unique = bool(body.get("hasUniqueValue", False))
    if unique and type_name not in ("string", "number"):
        raise validation_error("hasUniqueValue is only supported for string and number properties")
    now = store.now()
    prop = PropertyDef(
        name=name,
        label=str(body["label"]),
        type=type_name,
        fieldType=field_type,
        groupName=str(body["groupName"]),
        description=str(body.get("description", "")),
        options=_options(body.get("options"), type_name),
        displayOrder=int(body.get("displayOrder", -1)),
        hasUniqueValue=unique,
        hidden=bool(body.get("hidden", False)),
        formField=bool(body.get("formField", False)),
        createdAt=now,
        updatedAt=now,
    )
    store.properties[type_][name] = prop
    if unique:
        store.unique[type_][name] = {}
    return prop


def update_property(store: HubSpotStore, type_: str, name: str, body: Any) -> PropertyDef:
    prop = store.prop(type_, name)
    if prop is None:
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Property {name} does not exist")
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected a property update object")
    unknown = sorted(set(body) - UPDATABLE - {"name", "hasUniqueValue"})
    if unknown:
        raise validation_error(f"Unrecognized field(s) in property update: {unknown}")
    if "hasUniqueValue" in body and bool(body["hasUniqueValue"]) != prop.hasUniqueValue:
        raise validation_error("hasUniqueValue cannot be changed after a property is created")
    if prop.hubspotDefined:
        raise HubSpotError(
            400,
            "VALIDATION_ERROR",
            f"{name} is a HubSpot-defined property; its definition is read-only here",
        )
    type_name = str(body.get("type", prop.type))
    field_type = str(body.get("fieldType", prop.fieldType))
    _check_types(type_name, field_type)
    if "groupName" in body and str(body["groupName"]) not in store.groups[type_]:
        raise validation_error(f"Property group {body['groupName']!r} does not exist")
    if "options" in body or type_name != prop.type:
        prop.options = _options(body.get("options", [vars(o) for o in prop.options]), type_name)
    prop.type, prop.fieldType = type_name, field_type
    for key in ("label", "description", "groupName"):
        if key in body:
            setattr(prop, key, str(body[key]))
    for key in ("hidden", "formField"):
        if key in body:
            setattr(prop, key, bool(body[key]))
    if "displayOrder" in body:
        prop.displayOrder = int(body["displayOrder"])
    prop.updatedAt = store.now()
    return prop


def register(router: APIRouter, api: HubSpotApi) -> None:
    store, ctx = api.store, api.ctx
    base = "/crm/v3/properties/{object_type}"

    # groups first: /groups must not be taken for a property name
    @router.get(base + "/groups")
    @hubspot_errors
    async def list_groups(request: Request, object_type: str) -> Response:
        type_ = _type(object_type)
        with ctx.lock:
            groups = [vars(g) for g in store.groups[type_].values() if not g.archived]
        return JSONResponse({"results": groups})

    @router.post(base + "/groups")
    @hubspot_errors
    async def create_group(request: Request, object_type: str) -> Response:
        type_ = _type(object_type)
        body = await read_json(request)
        if not isinstance(body, dict) or not body.get("name") or not body.get("label"):
            raise validation_error("Some required fields were not set: [name, label]")
        name = str(body["name"])
        if not NAME_PATTERN.match(name):
            raise validation_error(f"Group name {name!r} is invalid")
        with ctx.lock:
            if name in store.groups[type_] and not store.groups[type_][name].archived:
                raise HubSpotError(
                    409, "OBJECT_ALREADY_EXISTS", f"Property group named '{name}' already exists."
                )
            group = Group(name, str(body["label"]), int(body.get("displayOrder", -1)))
            store.groups[type_][name] = group
        return JSONResponse(vars(group), status_code=201)

    @router.get(base + "/groups/{group_name}")
    @hubspot_errors
    async def read_group(request: Request, object_type: str, group_name: str) -> Response:
        type_ = _type(object_type)
        with ctx.lock:
            group = store.groups[type_].get(group_name)
            if group is None or group.archived:
                raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Group {group_name} does not exist")
            return JSONResponse(vars(group))

    @router.patch(base + "/groups/{group_name}")
    @hubspot_errors
    async def update_group(request: Request, object_type: str, group_name: str) -> Response:
        type_ = _type(object_type)
        body = await read_json(request)
        with ctx.lock:
            group = store.groups[type_].get(group_name)
            if group is None or group.archived:
                raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Group {group_name} does not exist")
            if isinstance(body, dict):
                group.label = str(body.get("label", group.label))
                group.displayOrder = int(body.get("displayOrder", group.displayOrder))
            return JSONResponse(vars(group))

    @router.delete(base + "/groups/{group_name}")
    @hubspot_errors
    async def archive_group(request: Request, object_type: str, group_name: str) -> Response:
        type_ = _type(object_type)
        with ctx.lock:
            group = store.groups[type_].get(group_name)
            if group is not None:
                group.archived = True
        return Response(status_code=204)

    @router.get(base)
    @hubspot_errors
    async def list_properties(request: Request, object_type: str) -> Response:
        type_ = _type(object_type)
        archived = query_bool(request, "archived")
        with ctx.lock:
            props = [
                p.to_json() for p in store.properties[type_].values() if p.archived == archived
            ]
        return JSONResponse({"results": props})

    @router.post(base)
    @hubspot_errors
    async def create(request: Request, object_type: str) -> Response:
        type_ = _type(object_type)
        body = await read_json(request)
        with ctx.lock:
            prop = create_property(store, type_, body)
        return JSONResponse(prop.to_json(), status_code=201)

    @router.post(base + "/batch/create")
    @hubspot_errors
    async def batch_create(request: Request, object_type: str) -> Response:
        type_ = _type(object_type)
        inputs = inputs_of(await read_json(request), 100)
        started = store.now()
        results, errors = [], []
        with ctx.lock:
            for item in inputs:
                try:
                    results.append(create_property(store, type_, item).to_json())
                except HubSpotError as exc:
                    errors.append(exc.batch_error())
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": store.now(),
        }
        if errors:
            body.update(numErrors=len(errors), errors=errors)
        return JSONResponse(body, status_code=207 if errors else 201)

    @router.post(base + "/batch/read")
    @hubspot_errors
    async def batch_read(request: Request, object_type: str) -> Response:
        type_ = _type(object_type)
        inputs = inputs_of(await read_json(request), 100)
        started = store.now()
        with ctx.lock:
            names = [str(i.get("name")) if isinstance(i, dict) else str(i) for i in inputs]
            results = [store.prop(type_, n) for n in names]
            found = [p.to_json() for p in results if p is not None]
        return JSONResponse(
            {
                "status": "COMPLETE",
                "results": found,
                "startedAt": started,
                "completedAt": store.now(),
            }
        )

    @router.get(base + "/{property_name}")
    @hubspot_errors
    async def read(request: Request, object_type: str, property_name: str) -> Response:
        type_ = _type(object_type)
        with ctx.lock:
            prop = store.properties[type_].get(property_name)
            if prop is None or prop.archived != query_bool(request, "archived"):
                raise HubSpotError(
                    404, "OBJECT_NOT_FOUND", f"Property {property_name} does not exist"
                )
            return JSONResponse(prop.to_json())

    @router.patch(base + "/{property_name}")
    @hubspot_errors
    async def update(request: Request, object_type: str, property_name: str) -> Response:
        type_ = _type(object_type)
        body = await read_json(request)
        with ctx.lock:
            return JSONResponse(update_property(store, type_, property_name, body).to_json())

    @router.delete(base + "/{property_name}")
    @hubspot_errors
    async def archive(request: Request, object_type: str, property_name: str) -> Response:
        type_ = _type(object_type)
        with ctx.lock:
            prop = store.prop(type_, property_name)
            if prop is not None:
                if prop.hubspotDefined:
                    raise validation_error(f"{property_name} is HubSpot-defined: cannot delete")
                prop.archived = True
                store.unique[type_].pop(property_name, None)
        return Response(status_code=204)


def _type(raw: str) -> str:
    return object_type(raw)
