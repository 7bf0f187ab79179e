"""Owners and deal pipelines (read-only reference data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from crm_sandbox.hubspot import reference
from crm_sandbox.hubspot.errors import HubSpotError
from crm_sandbox.hubspot.http import hubspot_errors, query_int

if TYPE_CHECKING:
    from crm_sandbox.hubspot.api import HubSpotApi


def register(router: APIRouter, api: HubSpotApi) -> None:
    ctx = api.ctx

    def owners() -> list[dict[str, Any]]:
        return reference.owners(ctx.settings.get("hubspot_owners"))

    @router.get("/crm/v3/owners")
    @router.get("/crm/v3/owners/")
    @hubspot_errors
    async def list_owners(request: Request) -> Response:
        email = request.query_params.get("email")
        limit = query_int(request, "limit", 100, 500)
        after = query_int(request, "after", 0)
        found = [o for o in owners() if not email or o["email"] == email]
        page = found[after : after + limit]
        body: dict[str, Any] = {"results": page}
        if after + limit < len(found):
            body["paging"] = {
                "next": {
                    "after": str(after + limit),
                    "link": f"/crm/v3/owners?after={after + limit}",
                }
            }
        return JSONResponse(body)

    @router.get("/crm/v3/owners/{owner_id}")
    @hubspot_errors
    async def read_owner(request: Request, owner_id: str) -> Response:
        key = "userId" if request.query_params.get("idProperty") == "userId" else "id"
        for owner in owners():
            if str(owner[key]) == owner_id:
                return JSONResponse(owner)
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Owner {owner_id} not found")

    def pipelines(object_type: str) -> list[dict[str, Any]]:
        if object_type not in ("deals", "0-3"):
            raise HubSpotError(
                400, "VALIDATION_ERROR", f"Pipelines are only emulated for deals, not {object_type}"
            )
        return reference.deal_pipelines()

    @router.get("/crm/v3/pipelines/{object_type}")
    @hubspot_errors
    async def list_pipelines(request: Request, object_type: str) -> Response:
        return JSONResponse({"results": pipelines(object_type)})

    @router.get("/crm/v3/pipelines/{object_type}/{pipeline_id}")
    @hubspot_errors
    async def read_pipeline(request: Request, object_type: str, pipeline_id: str) -> Response:
        for pipeline in pipelines(object_type):
            if pipeline["id"] == pipeline_id:
                return JSONResponse(pipeline)
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Pipeline {pipeline_id} not found")

    @router.get("/crm/v3/pipelines/{object_type}/{pipeline_id}/stages")
    @hubspot_errors
    async def list_stages(request: Request, object_type: str, pipeline_id: str) -> Response:
        for pipeline in pipelines(object_type):
            if pipeline["id"] == pipeline_id:
                return JSONResponse({"results": pipeline["stages"]})
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Pipeline {pipeline_id} not found")
