"""Associations v4: default (unlabeled) and labelled associations, reads, batch operations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from crm_sandbox.hubspot import reference
from crm_sandbox.hubspot.errors import HubSpotError, validation_error
from crm_sandbox.hubspot.http import hubspot_errors, inputs_of, query_int, read_json
from crm_sandbox.hubspot.store import HubSpotStore, object_type

if TYPE_CHECKING:
    from crm_sandbox.hubspot.api import HubSpotApi

TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tasks": "0-27"}


def _spec(type_id: int) -> dict[str, Any]:
    return {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}


def _labels(types: set[int]) -> list[dict[str, Any]]:
    return [
        {
            "category": "HUBSPOT_DEFINED",
            "typeId": t,
            "label": reference.ASSOCIATION_TYPES[t][2],
        }
        for t in sorted(types)
    ]


def _require(store: HubSpotStore, type_: str, record_id: str) -> None:
    if store.live(type_, record_id) is None:
        raise HubSpotError(
            404,
            "OBJECT_NOT_FOUND",
            f"No {type_} with id {record_id} exists",
        )


def default_type(from_type: str, to_type: str) -> int:
    type_id = reference.DEFAULT_ASSOCIATION.get((from_type, to_type))
    if type_id is None:
        raise validation_error(f"No default association between {from_type} and {to_type}")
    return type_id


def associate_default(
    store: HubSpotStore, from_type: str, from_id: str, to_type: str, to_id: str
) -> list[dict[str, Any]]:
    _require(store, from_type, from_id)
    _require(store, to_type, to_id)
    type_id = default_type(from_type, to_type)
    store.associate(from_type, from_id, to_type, to_id, type_id)
    inverse = reference.ASSOCIATION_TYPES[type_id][3]
    return [
        {"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": _spec(type_id)},
        {"from": {"id": to_id}, "to": {"id": from_id}, "associationSpec": _spec(inverse)},
    ]


def register(router: APIRouter, api: HubSpotApi) -> None:
    store, ctx = api.store, api.ctx

    def batch(started: str, results: list[Any], errors: list[Any] | None = None) -> dict:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": store.now(),
        }
        if errors:
            body.update(numErrors=len(errors), errors=errors)
        return body

    @router.put("/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}")
    @hubspot_errors
    async def create_default(
        request: Request, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> Response:
        f, t = object_type(from_type), object_type(to_type)
        started = store.now()
        with ctx.lock:
            results = associate_default(store, f, from_id, t, to_id)
        ctx.note_records(request, 1)
        return JSONResponse(batch(started, results))

    @router.put("/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}/{to_id}")
    @hubspot_errors
    async def create_labelled(
        request: Request, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> Response:
        f, t = object_type(from_type), object_type(to_type)
        specs = await read_json(request)
        if not isinstance(specs, list) or not specs:
            raise validation_error("expected a list of association specs")
        with ctx.lock:
            _require(store, f, from_id)
            _require(store, t, to_id)
            for spec in specs:
                type_id = int(spec.get("associationTypeId", -1)) if isinstance(spec, dict) else -1
                known = reference.ASSOCIATION_TYPES.get(type_id)
                if known is None or known[:2] != (f, t):
                    raise validation_error(f"association type {type_id} is not valid {f} -> {t}")
                store.associate(f, from_id, t, to_id, type_id)
            labels = [
                label
                for type_id in sorted(store.associations[(f, from_id)][(t, to_id)])
                if (label := reference.ASSOCIATION_TYPES[type_id][2])
            ]
        ctx.note_records(request, 1)
        body = {
            "fromObjectTypeId": TYPE_IDS[f],
            "fromObjectId": int(from_id),
            "toObjectTypeId": TYPE_IDS[t],
            "toObjectId": int(to_id),
            "labels": labels,
        }
        return JSONResponse(body, status_code=201)

    @router.get("/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}")
    @hubspot_errors
    async def list_associations(
        request: Request, from_type: str, from_id: str, to_type: str
    ) -> Response:
        f, t = object_type(from_type), object_type(to_type)
        limit = query_int(request, "limit", 500, 500)
        after = query_int(request, "after", 0)
        with ctx.lock:
            found = store.associated(f, from_id, t)
        page = found[after : after + limit]
        body: dict[str, Any] = {
            "results": [
                {"toObjectId": int(to_id), "associationTypes": _labels(types)}
                for to_id, types in page
            ]
        }
        if after + limit < len(found):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return JSONResponse(body)

    @router.delete("/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}/{to_id}")
    @hubspot_errors
    async def delete(
        request: Request, from_type: str, from_id: str, to_type: str, to_id: str
    ) -> Response:
        f, t = object_type(from_type), object_type(to_type)
        with ctx.lock:
            store.dissociate(f, from_id, t, to_id)
        return Response(status_code=204)

    @router.post("/crm/v4/associations/{from_type}/{to_type}/batch/associate/default")
    @hubspot_errors
    async def batch_default(request: Request, from_type: str, to_type: str) -> Response:
        f, t = object_type(from_type), object_type(to_type)
        inputs = inputs_of(await read_json(request), 2000)
        started = store.now()
        results: list[dict[str, Any]] = []
        with ctx.lock:
            pairs = []
            for item in inputs:
                try:
                    pairs.append((str(item["from"]["id"]), str(item["to"]["id"])))
                except (KeyError, TypeError):
                    raise validation_error("each input needs from.id and to.id") from None
            for from_id, to_id in pairs:  # validate all before writing any
                _require(store, f, from_id)
                _require(store, t, to_id)
            for from_id, to_id in pairs:
                results.extend(associate_default(store, f, from_id, t, to_id))
        ctx.note_records(request, len(pairs))
        return JSONResponse(batch(started, results))

    @router.post("/crm/v4/associations/{from_type}/{to_type}/batch/create")
    @hubspot_errors
    async def batch_create(request: Request, from_type: str, to_type: str) -> Response:
        f, t = object_type(from_type), object_type(to_type)
        inputs = inputs_of(await read_json(request), 2000)
        started = store.now()
        results = []
        with ctx.lock:
            for item in inputs:
                try:
                    from_id, to_id = str(item["from"]["id"]), str(item["to"]["id"])
                    type_ids = [int(s["associationTypeId"]) for s in item["types"]]
                except (KeyError, TypeError, ValueError):
                    raise validation_error("each input needs from.id, to.id and types") from None
                _require(store, f, from_id)
                _require(store, t, to_id)
                for type_id in type_ids:
                    known = reference.ASSOCIATION_TYPES.get(type_id)
                    if known is None or known[:2] != (f, t):
                        raise validation_error(f"association type {type_id} is not valid")
                    store.associate(f, from_id, t, to_id, type_id)
                results.append(
                    {
                        "fromObjectTypeId": TYPE_IDS[f],
                        "fromObjectId": int(from_id),
                        "toObjectTypeId": TYPE_IDS[t],
                        "toObjectId": int(to_id),
                        "labels": [
                            label
                            for type_id in type_ids
                            if (label := reference.ASSOCIATION_TYPES[type_id][2])
                        ],
                    }
                )
        ctx.note_records(request, len(results))
        return JSONResponse(batch(started, results), status_code=201)

    @router.post("/crm/v4/associations/{from_type}/{to_type}/batch/read")
    @hubspot_errors
    async def batch_read(request: Request, from_type: str, to_type: str) -> Response:
        f, t = object_type(from_type), object_type(to_type)
        inputs = inputs_of(await read_json(request), 1000)
        started = store.now()
        results, missing = [], []
        with ctx.lock:
            for item in inputs:
                from_id = str(item.get("id")) if isinstance(item, dict) else str(item)
                found = store.associated(f, from_id, t)
                if store.live(f, from_id) is None:
                    missing.append(from_id)
                    continue
                results.append(
                    {
                        "from": {"id": from_id},
                        "to": [
                            {"toObjectId": int(to_id), "associationTypes": _labels(types)}
                            for to_id, types in found
                        ],
                    }
                )
        errors = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"No {f} with id {i} exists",
                "context": {"fromObjectId": [i]},
                "links": {},
                "errors": [],
            }
            for i in missing
        ]
        return JSONResponse(batch(started, results, errors), status_code=207 if errors else 200)

    @router.post("/crm/v4/associations/{from_type}/{to_type}/batch/archive")
    @hubspot_errors
    async def batch_archive(request: Request, from_type: str, to_type: str) -> Response:
        f, t = object_type(from_type), object_type(to_type)
        inputs = inputs_of(await read_json(request), 2000)
        with ctx.lock:
            for item in inputs:
                try:
                    from_id = str(item["from"]["id"])
                    targets = [str(x["id"]) for x in item["to"]]
                except (KeyError, TypeError):
                    raise validation_error("each input needs from.id and to[].id") from None
                for to_id in targets:
                    store.dissociate(f, from_id, t, to_id)
        return Response(status_code=204)
