"""CRM v3 objects: basic CRUD and the batch endpoints (create, update, upsert, read, archive)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from crm_sandbox.hubspot.errors import HubSpotError, validation_error
from crm_sandbox.hubspot.http import (
    hubspot_errors,
    inputs_of,
    paging,
    query_bool,
    query_int,
    query_list,
    read_json,
)
from crm_sandbox.hubspot.schema import SINGULAR
from crm_sandbox.hubspot.store import HISTORY_BATCH_LIMIT, WritePlan, object_type

if TYPE_CHECKING:
    from crm_sandbox.hubspot.api import HubSpotApi

BATCH_LIMIT = 100
LIST_LIMIT = 100


def _multi_status(inputs: list[Any]) -> bool:
    """HubSpot attributes per-input errors only when every input carries a trace id."""
    return bool(inputs) and all(
        isinstance(item, dict) and item.get("objectWriteTraceId") for item in inputs
    )


def _duplicates(values: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({v for v in values if v in seen or seen.add(v)})  # type: ignore[func-returns-value]


def register(router: APIRouter, api: HubSpotApi) -> None:
    store, ctx = api.store, api.ctx
    base = "/crm/v3/objects/{object_type}"

    def batch_body(
        started: str,
        results: list[dict[str, Any]],
        errors: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": store.now(),
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        return body

    def run_writes(
        request: Request,
        type_: str,
        inputs: list[Any],
        planner: Callable[[int, Any, dict[tuple[str, str], str]], WritePlan],
        ok_status: int,
        with_new: bool,
    ) -> Response:
        """Plan every input, then apply: all-or-nothing unless every input has a trace id."""
        started = store.now()
        multi = _multi_status(inputs)
        pending: dict[tuple[str, str], str] = {}
        plans: list[WritePlan] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(inputs):
            try:
                plans.append(planner(index, item, pending))
            except HubSpotError as exc:
                if not multi:
                    raise
                errors.append(exc.batch_error([str(item["objectWriteTraceId"])]))
        results = []
        for plan in plans:
            record, created = store.apply(type_, plan)
            body = store.render_written(type_, record, plan)
            if with_new:
                body["new"] = created
            results.append(body)
        ctx.note_records(request, len(results))
        status = 207 if errors else ok_status
        return JSONResponse(batch_body(started, results, errors), status_code=status)

    # --- merge ---------------------------------------------------------------------------
    @router.post(base + "/merge")
    @hubspot_errors
    async def merge(request: Request, object_type: str) -> Response:
        type_ = object_type_of(object_type)
        body = await read_json(request)
        if not isinstance(body, dict) or not body.get("primaryObjectId"):
            raise validation_error("primaryObjectId and objectIdToMerge are required")
        if not body.get("objectIdToMerge"):
            raise validation_error("primaryObjectId and objectIdToMerge are required")
        with ctx.lock:
            record = store.merge(type_, str(body["primaryObjectId"]), str(body["objectIdToMerge"]))
            result = store.render(type_, record)
        ctx.note_records(request, 1)
        return JSONResponse(result)

    # --- basic ---------------------------------------------------------------------------
    @router.get(base)
    @hubspot_errors
    async def list_page(request: Request, object_type: str) -> Response:
        type_ = object_type_of(object_type)
        limit = query_int(request, "limit", 10, LIST_LIMIT)
        after = query_int(request, "after", 0)
        archived = query_bool(request, "archived")
        props = query_list(request, "properties")
        assoc = query_list(request, "associations")
        with ctx.lock:
            records = [
                r
                for r in store.objects[type_].values()
                if r.archived == archived and r.mergedInto is None
            ]
            records.sort(key=lambda r: int(r.id))
            page = records[after : after + limit]
            results = [store.render(type_, r, props, assoc) for r in page]
        ctx.note_records(request, len(results))
        body: dict[str, Any] = {"results": results}
        more = paging(after, len(page), len(records), str(request.url.path))
        if more:
            body["paging"] = more
        return JSONResponse(body)

    @router.post(base)
    @hubspot_errors
    async def create(request: Request, object_type: str) -> Response:
        type_ = object_type_of(object_type)
        item = await read_json(request)
        with ctx.lock:
            plan = store.plan_create(type_, item, {}, "0", path=request.url.path)
            record, _ = store.apply(type_, plan)
            body = store.render_written(type_, record, plan)
        ctx.note_records(request, 1)
        return JSONResponse(body, status_code=201)

    @router.get(base + "/{object_id}")
    @hubspot_errors
    async def read(request: Request, object_type: str, object_id: str) -> Response:
        type_ = object_type_of(object_type)
        id_property = request.query_params.get("idProperty")
        archived = query_bool(request, "archived")
        with ctx.lock:
            if archived:
                record = store.objects[type_].get(object_id)
                if record is None or not record.archived or record.mergedInto is not None:
                    raise HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found")
            else:
                record = store.get(type_, object_id, id_property)
            body = store.render(
                type_,
                record,
                query_list(request, "properties"),
                query_list(request, "associations"),
                query_list(request, "propertiesWithHistory"),
            )
        ctx.note_records(request, 1)
        return JSONResponse(body)

    @router.patch(base + "/{object_id}")
    @hubspot_errors
    async def update(request: Request, object_type: str, object_id: str) -> Response:
        type_ = object_type_of(object_type)
        item = await read_json(request)
        if not isinstance(item, dict):
            raise validation_error("Invalid input JSON: expected an object with properties")
        with ctx.lock:
            record = store.get(type_, object_id, request.query_params.get("idProperty"))
            plan = store.plan_update(type_, record, item, {}, path=request.url.path)
            record, _ = store.apply(type_, plan)
            body = store.render_written(type_, record, plan)
        ctx.note_records(request, 1)
        return JSONResponse(body)

    @router.delete(base + "/{object_id}")
    @hubspot_errors
    async def archive(request: Request, object_type: str, object_id: str) -> Response:
        type_ = object_type_of(object_type)
        id_property = request.query_params.get("idProperty")
        with ctx.lock:
            if id_property and id_property != "hs_object_id":
                try:
                    object_id = store.get(type_, object_id, id_property).id
                except HubSpotError as exc:
                    if exc.status != 404:
                        raise
            if store.archive(type_, object_id):
                ctx.note_records(request, 1)
        return Response(status_code=204)

    # --- batch ---------------------------------------------------------------------------
    @router.post(base + "/batch/create")
    @hubspot_errors
    async def batch_create(request: Request, object_type: str) -> Response:
        type_ = object_type_of(object_type)
        inputs = inputs_of(await read_json(request), BATCH_LIMIT)
        path = request.url.path

        def planner(index: int, item: Any, pending: dict[tuple[str, str], str]) -> WritePlan:
            return store.plan_create(type_, item, pending, f"new:{index}", path=path)

        with ctx.lock:
            return run_writes(request, type_, inputs, planner, 201, with_new=False)

    @router.post(base + "/batch/update")
    @hubspot_errors
    async def batch_update(request: Request, object_type: str) -> Response:
        type_ = object_type_of(object_type)
        inputs = inputs_of(await read_json(request), BATCH_LIMIT)
        ids = [str(i.get("id")) for i in inputs if isinstance(i, dict)]
        duplicated = _duplicates(ids)
        if duplicated:
            raise validation_error(
                f"Duplicate IDs found in batch input: {duplicated}. IDs must be unique"
            )
        path = request.url.path

        def planner(index: int, item: Any, pending: dict[tuple[str, str], str]) -> WritePlan:
            if not isinstance(item, dict) or item.get("id") in (None, ""):
                raise validation_error("each input needs an id and properties")
            record = store.get(type_, str(item["id"]), item.get("idProperty"))
            return store.plan_update(type_, record, item, pending, path=path)

        with ctx.lock:
            return run_writes(request, type_, inputs, planner, 200, with_new=False)

    @router.post(base + "/batch/upsert")
    @hubspot_errors
    async def batch_upsert(request: Request, object_type: str) -> Response:
        type_ = object_type_of(object_type)
        inputs = inputs_of(await read_json(request), BATCH_LIMIT)
        keys = []
        for item in inputs:
            if not isinstance(item, dict) or not item.get("idProperty") or not item.get("id"):
                raise validation_error(
                    "each upsert input needs idProperty (a property with hasUniqueValue) and id"
                )
            keys.append(f"{item['idProperty']}={item['id']}")
        duplicated = _duplicates(keys)
        if duplicated:
            raise validation_error(
                f"Duplicate IDs found in batch input: {duplicated}. IDs must be unique"
            )
        path = request.url.path

        def planner(index: int, item: Any, pending: dict[tuple[str, str], str]) -> WritePlan:
            id_property, id_value = str(item["idProperty"]), str(item["id"])
            prop = store.prop(type_, id_property)
            if prop is None:
                raise validation_error(f'Property "{id_property}" does not exist')
            if not prop.hasUniqueValue:
                raise validation_error(
                    f"{id_property} is not a unique property: upsert needs an idProperty "
                    "with hasUniqueValue"
                )
            properties = dict(item.get("properties") or {})
            properties[id_property] = id_value
            found = (
                store.unique[type_]
                .get(id_property, {})
                .get(
                    id_value.lower() if (type_, id_property) == ("contacts", "email") else id_value
                )
            )
            record = store.live(type_, found) if found else None
            normalized = {**item, "properties": properties}
            fault_key = f"{type_}:{id_property}={id_value}"
            if record is None:
                return store.plan_create(
                    type_, normalized, pending, f"upsert:{index}", fault_key=fault_key, path=path
                )
            return store.plan_update(
                type_, record, normalized, pending, path=path, fault_key=fault_key
            )

        with ctx.lock:
            return run_writes(request, type_, inputs, planner, 200, with_new=True)

    @router.post(base + "/batch/read")
    @hubspot_errors
    async def batch_read(request: Request, object_type: str) -> Response:
        type_ = object_type_of(object_type)
        body = await read_json(request)
        inputs = inputs_of(body, BATCH_LIMIT)
        id_property = body.get("idProperty")
        props = body.get("properties") or []
        with_history = body.get("propertiesWithHistory") or []
        if with_history and len(inputs) > HISTORY_BATCH_LIMIT:
            raise validation_error(
                "The maximum number of inputs supported in a batch request for property "
                f"histories is {HISTORY_BATCH_LIMIT}. Please reduce the number of items and "
                "try again"
            )
        archived = query_bool(request, "archived")
        started = store.now()
        results, missing = [], []
        with ctx.lock:
            for item in inputs:
                raw_id = str(item.get("id")) if isinstance(item, dict) else str(item)
                try:
                    if archived:
                        record = store.objects[type_].get(raw_id)
                        if record is None or not record.archived or record.mergedInto:
                            raise HubSpotError(404, "OBJECT_NOT_FOUND", "not found")
                    else:
                        record = store.get(type_, raw_id, id_property)
                except HubSpotError as exc:
                    if exc.status != 404:
                        raise
                    missing.append(raw_id)
                    continue
                results.append(store.render(type_, record, props, with_history=with_history))
        ctx.note_records(request, len(results))
        errors = []
        if missing:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {SINGULAR[type_].upper()} objects, they may "
                    "be deleted or not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                    "links": {},
                    "errors": [],
                }
            )
        return JSONResponse(
            batch_body(started, results, errors), status_code=207 if errors else 200
        )

    @router.post(base + "/batch/archive")
    @hubspot_errors
    async def batch_archive(request: Request, object_type: str) -> Response:
        type_ = object_type_of(object_type)
        inputs = inputs_of(await read_json(request), BATCH_LIMIT)
        with ctx.lock:
            n = sum(
                store.archive(type_, str(item.get("id")))
                for item in inputs
                if isinstance(item, dict)
            )
        ctx.note_records(request, n)
        return Response(status_code=204)


def object_type_of(raw: str) -> str:
    return object_type(raw)
