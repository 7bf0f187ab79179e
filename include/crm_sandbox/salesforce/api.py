"""The Salesforce REST API module of the sandbox: routing, limits, and the CrmApi contract."""

from __future__ import annotations

import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from crm_sandbox.api import SandboxContext
from crm_sandbox.salesforce import tooling
from crm_sandbox.salesforce.bulk import BulkIngest, injected_failure
from crm_sandbox.salesforce.errors import RecordError, SfError, error_response, not_found
from crm_sandbox.salesforce.ids import make_id, normalize_id
from crm_sandbox.salesforce.limits import ApiUsage, daily_limit
from crm_sandbox.salesforce.query import Result, Source, execute
from crm_sandbox.salesforce.schema import ObjectDef
from crm_sandbox.salesforce.soql import SoqlError, parse
from crm_sandbox.salesforce.store import DEFAULT_USERS, FaultCheck, Record, Store
from crm_sandbox.salesforce.values import ValueTypeError

log = logging.getLogger("crm_sandbox.salesforce")

VERSIONS = {
    "52.0": "Summer '21",
    "53.0": "Winter '22",
    "54.0": "Spring '22",
    "55.0": "Summer '22",
    "56.0": "Winter '23",
    "57.0": "Spring '23",
    "58.0": "Summer '23",
    "59.0": "Winter '24",
    "60.0": "Spring '24",
    "61.0": "Summer '24",
    "62.0": "Winter '25",
}
CURRENT_VERSION = "62.0"
MAX_COLLECTION = 200
DEFAULT_BATCH = 2000
MAX_CURSORS = 200
CURSOR_IDLE_SECONDS = 15 * 60
ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
V = r"/services/data/v(?P<version>\d+\.\d)"
NAME = r"(?P<obj>[A-Za-z][A-Za-z0-9_]*)"


@dataclass
class Call:
    """One request, as the route handlers see it."""

    request: Request
    method: str
    params: dict[str, str]
    body: bytes
    version: str

    def json(self) -> Any:
        if not self.body.strip():
            raise SfError(400, "JSON_PARSER_ERROR", "The request body is empty")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise SfError(400, "JSON_PARSER_ERROR", f"Malformed JSON: {exc}") from exc

    def arg(self, name: str) -> str | None:
        return self.request.query_params.get(name)


Handler = Callable[[Call], Response]


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def _no_content() -> Response:
    return Response(status_code=204)


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _create_key(sobject: str, values: Record) -> str:
    return f"{sobject}:insert:{json.dumps(values, sort_keys=True, default=str)}"


def _upsert_key(sobject: str, field: str, value: Any) -> str:
    return f"{sobject}:{field}:{str(value).lower()}"


class SalesforceApi:
    """Salesforce REST, sObject Collections, SOQL, Bulk API 2.0 ingest and Tooling API."""

    name = "salesforce"
    prefixes = ("/services/",)

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.store = Store(ctx.clock, self._users())
        self.bulk = BulkIngest(self.store)
        self.usage = ApiUsage()
        self.cursors: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cursor_counter = 0
        self._routes = self._build_routes()

    # --- CrmApi contract ------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.api_route("/services/{rest:path}", methods=ALL_METHODS, include_in_schema=False)
        async def salesforce(request: Request) -> Response:
            body = await request.body()
            return await run_in_threadpool(self.handle, request, body)

        return router

    def auth_error(self, request: Request) -> Response:
        return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid", bare=True)

    def fault_error(self, request: Request, status: int) -> Response:
        if status == 429 or status == 403:
            return error_response(
                403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."
            )
        if status == 423:
            return error_response(
                status,
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records",
            )
        if status == 500:
            return error_response(
                500,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact "
                "support: 1234567890-12345 (-1234567890)",
            )
        return error_response(
            status, "SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again"
        )

    def check_limits(self, request: Request) -> Response | None:
        with self.ctx.lock:
            now = self.ctx.clock.now()
            if self.usage.used(now) >= daily_limit(self.ctx.settings):
                return error_response(
                    403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", bare=True
                )
            self.usage.add(now)
        return None

    def on_response(self, request: Request, response: Response) -> None:
        with self.ctx.lock:
            used = self.usage.used(self.ctx.clock.now())
            limit = daily_limit(self.ctx.settings)
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"

    def dump(self) -> dict[str, Any]:
        with self.ctx.lock:
            return {
                "store": self.store.dump(),
                "bulk": self.bulk.dump(),
                "usage": self.usage.dump(),
            }

    def load(self, data: dict[str, Any]) -> None:
        with self.ctx.lock:
            store = Store(self.ctx.clock, [])
            store.load(data.get("store", {}))
            self.store = store
            self.bulk = BulkIngest(store)
            self.bulk.load(data.get("bulk"))
            self.usage = ApiUsage()
            self.usage.load(data.get("usage"))
            self.cursors.clear()

    def reset(self) -> None:
        with self.ctx.lock:
            self.store = Store(self.ctx.clock, self._users())
            self.bulk = BulkIngest(self.store)
            self.usage = ApiUsage()
            self.cursors.clear()

    def _users(self) -> list[dict[str, Any]]:
        configured = self.ctx.settings.get("salesforce_users")
        if isinstance(configured, list) and configured:
            return [DEFAULT_USERS[0], *configured]
        return DEFAULT_USERS

    # --- for simulated reps (UI edits: no API usage, no fault injection) -------------------

    def list_records(self, sobject: str) -> list[dict[str, Any]]:
        with self.ctx.lock:
            obj = self.store.object(sobject)
            return [
                {name: rec.get(name) for name in obj.fields}
                for rec in self.store.records[obj.name].values()
            ]

    def create_record(self, sobject: str, fields: dict[str, Any]) -> str:
        with self.ctx.lock:
            obj = self.store.object(sobject)
            try:
                values = self.store.convert(obj, fields)
                if "OwnerId" in obj.fields and not values.get("OwnerId"):
                    # a rep's new record belongs to whoever owns its account / related record
                    parent = self.store.get_any(
                        str(values.get("AccountId") or values.get("WhatId") or "")
                    )
                    if parent is not None and parent[1].get("OwnerId"):
                        values["OwnerId"] = parent[1]["OwnerId"]
                actor = values.get("OwnerId") or self.store.api_user_id
                rid = self.store.create(obj.name, values, actor=actor)
            except (RecordError, SfError, ValueTypeError) as exc:
                raise ValueError(_describe_error(exc)) from exc
        self.ctx.mark_dirty()
        return rid

    def update_record(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        with self.ctx.lock:
            obj = self.store.object(sobject)
            current = self.store.get(obj.name, record_id)
            try:
                values = self.store.convert(obj, fields)
                actor = values.get("OwnerId") or (current or {}).get("OwnerId")
                self.store.update(obj.name, record_id, values, actor=actor)
            except (RecordError, SfError, ValueTypeError) as exc:
                raise ValueError(_describe_error(exc)) from exc
        self.ctx.mark_dirty()

    def merge_records(self, sobject: str, master_id: str, loser_ids: list[str]) -> str:
        """A merge as a user does it in the UI (Salesforce offers merge over SOAP and Apex,
        not REST): see Store.merge."""
        with self.ctx.lock:
            try:
                master = self.store.merge(sobject, master_id, loser_ids)
            except (RecordError, SfError) as exc:
                raise ValueError(_describe_error(exc)) from exc
        self.ctx.mark_dirty()
        return master

    def has_field(self, sobject: str, field: str) -> bool:
        with self.ctx.lock:
            obj = self.store.find_object(sobject)
            return obj is not None and obj.field(field) is not None

    # --- dispatch -------------------------------------------------------------------------

    def _build_routes(self) -> list[tuple[re.Pattern[str], dict[str, Handler]]]:
        table: list[tuple[str, dict[str, Handler]]] = [
            (r"/services/data", {"GET": self.versions}),
            (V, {"GET": self.resources}),
            (V + r"/sobjects", {"GET": self.global_describe}),
            (V + rf"/sobjects/{NAME}", {"GET": self.sobject_info, "POST": self.create}),
            (V + rf"/sobjects/{NAME}/describe", {"GET": self.describe}),
            (
                V + rf"/sobjects/{NAME}/(?P<id>[^/]+)",
                {"GET": self.get_record, "PATCH": self.update, "DELETE": self.delete},
            ),
            (
                V + rf"/sobjects/{NAME}/(?P<field>[A-Za-z][A-Za-z0-9_]*)/(?P<value>.+)",
                {"GET": self.get_by_ext, "PATCH": self.upsert, "DELETE": self.delete_by_ext},
            ),
            (
                V + r"/composite/sobjects",
                {
                    "POST": self.collection_create,
                    "PATCH": self.collection_update,
                    "DELETE": self.collection_delete,
                },
            ),
            (V + rf"/composite/sobjects/{NAME}", {"GET": self.collection_get}),
            (
                V + rf"/composite/sobjects/{NAME}/(?P<field>[A-Za-z][A-Za-z0-9_]*)",
                {"PATCH": self.collection_upsert},
            ),
            (V + r"/(?P<endpoint>query|queryAll)", {"GET": self.query}),
            (
                V + r"/(?P<endpoint>query|queryAll)/(?P<locator>[A-Za-z0-9]+)-(?P<offset>\d+)",
                {"GET": self.query_more},
            ),
            (V + r"/limits", {"GET": self.limits}),
            (V + r"/jobs/ingest", {"POST": self.job_create, "GET": self.job_list}),
            (
                V + r"/jobs/ingest/(?P<job>[A-Za-z0-9]+)",
                {"GET": self.job_info, "PATCH": self.job_state, "DELETE": self.job_delete},
            ),
            (V + r"/jobs/ingest/(?P<job>[A-Za-z0-9]+)/batches", {"PUT": self.job_upload}),
            (
                V
                + r"/jobs/ingest/(?P<job>[A-Za-z0-9]+)/"
                + r"(?P<kind>(?i:successfulResults|failedResults|unprocessedRecords))",
                {"GET": self.job_results},
            ),
            (V + r"/tooling/sobjects", {"GET": self.tooling_sobjects}),
            (V + r"/tooling/sobjects/CustomField", {"POST": self.tooling_create}),
            (
                V + r"/tooling/sobjects/CustomField/(?P<id>[A-Za-z0-9]+)",
                {"GET": self.tooling_get, "DELETE": self.tooling_delete},
            ),
            (V + r"/tooling/query", {"GET": self.tooling_query}),
        ]
        return [(re.compile(pattern + "$"), handlers) for pattern, handlers in table]

    def handle(self, request: Request, body: bytes) -> Response:
        path = request.scope.get("path") or request.url.path
        if len(path) > 1:
            path = path.rstrip("/")
        allowed: list[str] = []
        for pattern, handlers in self._routes:
            m = pattern.match(path)
            if m is None:
                continue
            handler = handlers.get(request.method)
            if handler is None:
                allowed.extend(handlers)
                continue
            params = {k: v for k, v in m.groupdict().items() if v is not None}
            version = params.get("version", CURRENT_VERSION)
            if "version" in params and version not in VERSIONS:
                return not_found().response()
            call = Call(request, request.method, params, body, version)
            return self._run(handler, call)
        if allowed:
            return error_response(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(allowed)}",
            )
        return not_found().response()

    def _run(self, handler: Handler, call: Call) -> Response:
        try:
            with self.ctx.lock:
                return handler(call)
        except SfError as exc:
            return exc.response()
        except RecordError as exc:
            status = 404 if exc.code in ("ENTITY_IS_DELETED", "NOT_FOUND") else 400
            return exc.to_sf_error(status).response()
        except ValueTypeError as exc:
            return error_response(400, "JSON_PARSER_ERROR", exc.json_message())
        except Exception:  # a sandbox bug: answer like Salesforce's opaque 500
            log.exception("unhandled error in the Salesforce sandbox")
            return self.fault_error(call.request, 500)

    def _fault(self, call: Call, key: str) -> FaultCheck:
        faults = self.ctx.faults
        path = call.request.url.path

        def check() -> RecordError | None:
            if faults is not None and faults.record_fails(key, path):
                return injected_failure()
            return None

        return check

    # --- discovery ------------------------------------------------------------------------

    def versions(self, call: Call) -> Response:
        return _json(
            [
                {"label": label, "url": f"/services/data/v{v}", "version": v}
                for v, label in VERSIONS.items()
            ]
        )

    def resources(self, call: Call) -> Response:
        base = f"/services/data/v{call.version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "tooling", "jobs")
        return _json({name: f"{base}/{name}" for name in names})

    def global_describe(self, call: Call) -> Response:
        return _json(
            {
                "encoding": "UTF-8",
                "maxBatchSize": MAX_COLLECTION,
                "sobjects": [o.summary(call.version) for o in self.store.objects.values()],
            }
        )

    def sobject_info(self, call: Call) -> Response:
        obj = self.store.object(call.params["obj"])
        return _json({"objectDescribe": obj.summary(call.version), "recentItems": []})

    def describe(self, call: Call) -> Response:
        return _json(self.store.object(call.params["obj"]).describe(call.version))

    def limits(self, call: Call) -> Response:
        now = self.ctx.clock.now()
        limit = daily_limit(self.ctx.settings)
        used = self.usage.used(now)
        records = sum(len(r) for r in self.store.records.values())
        storage_max = 1024
        return _json(
            {
                "DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)},
                "DailyBulkApiBatches": {
                    "Max": 15000,
                    "Remaining": max(0, 15000 - len(self.bulk.jobs)),
                },
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DataStorageMB": {
                    "Max": storage_max,
                    "Remaining": max(0, storage_max - (records * 2) // 1024),
                },
                "FileStorageMB": {"Max": 1024, "Remaining": 1024},
                "SingleEmail": {"Max": 5000, "Remaining": 5000},
            }
        )

    # --- single records -------------------------------------------------------------------

    def _record_out(
        self, obj: ObjectDef, rec: Record, version: str, fields: list[str] | None = None
    ) -> Record:
        out: Record = {
            "attributes": {
                "type": obj.name,
                "url": f"/services/data/v{version}/sobjects/{obj.name}/{rec['Id']}",
            }
        }
        for name in fields or list(obj.fields):
            out[name] = rec.get(name)
        return out

    def _fields_param(self, obj: ObjectDef, call: Call) -> list[str] | None:
        raw = call.arg("fields")
        if not raw:
            return None
        names = []
        for part in raw.split(","):
            fdef = obj.field(part.strip())
            if fdef is None:
                raise SfError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{part.strip()}' on entity '{obj.name}'. If you are "
                    "attempting to use a custom field, be sure to append the '__c' after the "
                    "custom field name. Please reference your WSDL or the describe call for "
                    "the appropriate names.",
                )
            names.append(fdef.name)
        return names

    def _url_record(self, obj: ObjectDef, raw_id: str) -> Record:
        rid = normalize_id(raw_id)
        if rid is None:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {raw_id}"
            )
        rec = self.store.records[obj.name].get(rid)
        if rec is None:
            if rid in self.store.deleted[obj.name]:
                raise SfError(404, "ENTITY_IS_DELETED", "entity is deleted")
            raise not_found()
        return rec

    def _body_record(self, call: Call) -> dict[str, Any]:
        body = call.json()
        if not isinstance(body, dict):
            raise SfError(
                400,
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of SObject from a non-object JSON value",
            )
        return body

    def create(self, call: Call) -> Response:
        obj = self.store.object(call.params["obj"])
        values = self.store.convert(obj, self._body_record(call))
        rid = self.store.create(
            obj.name, values, fault=self._fault(call, _create_key(obj.name, values))
        )
        self.ctx.note_records(call.request, 1)
        return _json({"id": rid, "success": True, "errors": []}, 201)

    def get_record(self, call: Call) -> Response:
        obj = self.store.object(call.params["obj"])
        fields = self._fields_param(obj, call)
        rec = self._url_record(obj, call.params["id"])
        self.ctx.note_records(call.request, 1)
        return _json(self._record_out(obj, rec, call.version, fields))

    def update(self, call: Call) -> Response:
        obj = self.store.object(call.params["obj"])
        rec = self._url_record(obj, call.params["id"])
        values = self.store.convert(obj, self._body_record(call))
        values.pop("Id", None)
        key = f"{obj.name}:{rec['Id']}"
        self.store.update(obj.name, rec["Id"], values, fault=self._fault(call, key))
        self.ctx.note_records(call.request, 1)
        return _no_content()

    def delete(self, call: Call) -> Response:
        obj = self.store.object(call.params["obj"])
        rec = self._url_record(obj, call.params["id"])
        self.store.delete(obj.name, rec["Id"])
        self.ctx.note_records(call.request, 1)
        return _no_content()

    def _ext_field(self, obj: ObjectDef, name: str) -> Any:
        ext = self.store.external_id_field(obj, name)
        if ext is None:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {name}"
            )
        return ext

    def _ext_matches(self, obj: ObjectDef, call: Call) -> list[str]:
        ext = self._ext_field(obj, call.params["field"])
        try:
            return self.store.find_by(obj, ext, call.params["value"])
        except (ValueTypeError, RecordError):
            return []

    def _one_ext_match(self, obj: ObjectDef, call: Call) -> str | Response:
        """The Id the external id names; 404 when none, 300 with the candidates when several."""
        matches = self._ext_matches(obj, call)
        if not matches:
            raise not_found()
        if len(matches) > 1:
            base = f"/services/data/v{call.version}/sobjects/{obj.name}"
            return _json([f"{base}/{rid}" for rid in matches], 300)
        return matches[0]

    def get_by_ext(self, call: Call) -> Response:
        obj = self.store.object(call.params["obj"])
        match = self._one_ext_match(obj, call)
        if isinstance(match, Response):
            return match
        rec = self.store.records[obj.name][match]
        self.ctx.note_records(call.request, 1)
        return _json(self._record_out(obj, rec, call.version, self._fields_param(obj, call)))

    def delete_by_ext(self, call: Call) -> Response:
        obj = self.store.object(call.params["obj"])
        match = self._one_ext_match(obj, call)
        if isinstance(match, Response):
            return match
        self.store.delete(obj.name, match)
        self.ctx.note_records(call.request, 1)
        return _no_content()

    def upsert(self, call: Call) -> Response:
        obj = self.store.object(call.params["obj"])
        ext = self._ext_field(obj, call.params["field"])
        values = self.store.convert(obj, self._body_record(call))
        value = call.params["value"]
        if ext.type != "id":
            matches = self.store.find_by(obj, ext, value)
            if len(matches) > 1:
                base = f"/services/data/v{call.version}/sobjects/{obj.name}"
                return _json([f"{base}/{rid}" for rid in matches], 300)
        key = _upsert_key(obj.name, ext.name, value)
        rid, created = self.store.upsert(obj.name, ext, value, values, fault=self._fault(call, key))
        self.ctx.note_records(call.request, 1)
        body = {"id": rid, "success": True, "errors": [], "created": created}
        return _json(body, 201 if created else 200)

    # --- sObject Collections --------------------------------------------------------------

    def _collection_body(self, call: Call) -> tuple[list[dict[str, Any]], bool]:
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SfError(400, "JSON_PARSER_ERROR", "The request body needs a records array")
        records = body["records"]
        if len(records) > MAX_COLLECTION:
            raise SfError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        for item in records:
            attrs = item.get("attributes") if isinstance(item, dict) else None
            if not isinstance(attrs, dict) or not isinstance(attrs.get("type"), str):
                raise SfError(400, "INVALID_TYPE", "Must send a concrete entity type.")
            if self.store.find_object(attrs["type"]) is None:
                raise SfError(
                    400, "INVALID_TYPE", f"sObject type '{attrs['type']}' is not supported."
                )
        return records, _flag(body.get("allOrNone", False))

    def _deserialize_all(self, records: list[dict[str, Any]]) -> None:
        """Request-level errors (unknown fields, wrong JSON types) before anything is written."""
        for item in records:
            obj = self.store.object(item["attributes"]["type"])
            try:
                self.store.convert(obj, item)
            except RecordError:
                continue  # per-record problems are reported in the results

    def _run_collection(
        self,
        call: Call,
        records: list[Any],
        all_or_none: bool,
        write: Callable[[Any, list[Any]], Record],
        upsert: bool = False,
    ) -> Response:
        undo: list[Any] = []
        results: list[Record] = []
        failed = False
        for item in records:
            try:
                results.append(write(item, undo))
            except RecordError as exc:
                failed = True
                result: Record = {"success": False, "errors": [exc.as_result_error()]}
                if upsert:
                    result["created"] = False
                results.append(result)
        if all_or_none and failed:
            self.store.rollback(undo)
            for i, result in enumerate(results):
                if result["success"]:
                    rolled: Record = {"success": False, "errors": [ROLLED_BACK.as_result_error()]}
                    if "created" in result:
                        rolled["created"] = False
                    results[i] = rolled
        self.ctx.note_records(call.request, len(records))
        return _json(results)

    def collection_create(self, call: Call) -> Response:
        records, all_or_none = self._collection_body(call)
        self._deserialize_all(records)

        def write(item: dict[str, Any], undo: list[Any]) -> Record:
            obj = self.store.object(item["attributes"]["type"])
            values = self.store.convert(obj, item)
            if "Id" in values:
                raise RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            fault = self._fault(call, _create_key(obj.name, values))
            rid = self.store.create(obj.name, values, undo=undo, fault=fault)
            return {"id": rid, "success": True, "errors": []}

        return self._run_collection(call, records, all_or_none, write)

    def collection_update(self, call: Call) -> Response:
        records, all_or_none = self._collection_body(call)
        self._deserialize_all(records)

        def write(item: dict[str, Any], undo: list[Any]) -> Record:
            obj = self.store.object(item["attributes"]["type"])
            values = self.store.convert(obj, item)
            rid = values.pop("Id", None)
            if not rid:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            key = f"{obj.name}:{normalize_id(rid) or rid}"
            self.store.update(obj.name, rid, values, undo=undo, fault=self._fault(call, key))
            return {"id": normalize_id(rid), "success": True, "errors": []}

        return self._run_collection(call, records, all_or_none, write)

    def collection_upsert(self, call: Call) -> Response:
        obj = self.store.object(call.params["obj"])
        ext = self.store.external_id_field(obj, call.params["field"])
        if ext is None:
            raise SfError(
                400,
                "INVALID_FIELD",
                f"Field name provided, {call.params['field']} is not an External ID or indexed "
                f"field for {obj.name}",
            )
        records, all_or_none = self._collection_body(call)
        for item in records:
            if self.store.object(item["attributes"]["type"]) is not obj:
                raise SfError(
                    400,
                    "INVALID_TYPE",
                    f"The sObject type {item['attributes']['type']} doesn't match the type in "
                    f"the URL: {obj.name}",
                )
        self._deserialize_all(records)
        counts: dict[Any, int] = {}
        for item in records:
            value = next((v for k, v in item.items() if k.lower() == ext.name.lower()), None)
            if value not in (None, ""):
                counts[str(value).lower()] = counts.get(str(value).lower(), 0) + 1

        def write(item: dict[str, Any], undo: list[Any]) -> Record:
            values = self.store.convert(obj, item)
            value = values.pop(ext.name, None)
            if ext.type == "id":
                value = values.pop("Id", value)
            if value is None:
                raise RecordError("MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name])
            if counts.get(str(value).lower(), 0) > 1:
                raise RecordError(
                    "DUPLICATE_EXTERNAL_ID",
                    f"Duplicate external id specified: {value}",
                    [ext.name],
                )
            fault = self._fault(call, _upsert_key(obj.name, ext.name, value))
            rid, created = self.store.upsert(obj.name, ext, value, values, undo=undo, fault=fault)
            return {"id": rid, "success": True, "errors": [], "created": created}

        return self._run_collection(call, records, all_or_none, write, upsert=True)

    def collection_delete(self, call: Call) -> Response:
        ids = [i for i in (call.arg("ids") or "").split(",") if i]
        if not ids:
            raise SfError(400, "MISSING_ARGUMENT", "ids: the ids parameter is required")
        if len(ids) > MAX_COLLECTION:
            raise SfError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )

        def write(raw_id: str, undo: list[Any]) -> Record:
            found = self.store.get_any(raw_id)
            if found is None:
                rid = normalize_id(raw_id)
                if rid and any(rid in d for d in self.store.deleted.values()):
                    raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
                raise RecordError(
                    "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {raw_id}"
                )
            sobject, rec = found
            self.store.delete(sobject, rec["Id"], undo=undo)
            return {"id": rec["Id"], "success": True, "errors": []}

        return self._run_collection(call, ids, _flag(call.arg("allOrNone")), write)

    def collection_get(self, call: Call) -> Response:
        obj = self.store.object(call.params["obj"])
        ids = [i for i in (call.arg("ids") or "").split(",") if i]
        fields = self._fields_param(obj, call)
        if not ids or not fields:
            raise SfError(400, "MISSING_ARGUMENT", "ids and fields are required")
        out: list[Record | None] = []
        for raw_id in ids:
            rec = self.store.get(obj.name, raw_id)
            out.append(self._record_out(obj, rec, call.version, fields) if rec else None)
        self.ctx.note_records(call.request, sum(1 for r in out if r))
        return _json(out)

    # --- SOQL -----------------------------------------------------------------------------

    def _source(self) -> Source:
        store = self.store

        def rows(obj: ObjectDef, include_deleted: bool) -> list[Record]:
            out = list(store.records[obj.name].values())
            if include_deleted:
                out.extend(store.deleted[obj.name].values())
            return out

        def lookup(record_id: str) -> tuple[ObjectDef, Record] | None:
            found = store.get_any(record_id)
            return (store.objects[found[0]], found[1]) if found else None

        return Source(store.find_object, rows, lookup, self.ctx.clock.now)

    @staticmethod
    def _batch_size(call: Call) -> int | None:
        header = call.request.headers.get("sforce-query-options", "")
        m = re.search(r"batchSize\s*=\s*(\d+)", header, re.IGNORECASE)
        if not m:
            return None
        return max(1, min(DEFAULT_BATCH, int(m.group(1))))

    def _soql(self, text: str, run: Callable[[], Result]) -> Result:
        try:
            return run()
        except SoqlError as exc:
            raise SfError(400, exc.code, exc.render(text)) from exc

    def query(self, call: Call) -> Response:
        text = call.arg("q")
        if text is None:
            raise SfError(400, "MALFORMED_QUERY", "The q parameter with a SOQL query is required")
        include_deleted = call.params["endpoint"] == "queryAll"
        result = self._soql(
            text,
            lambda: execute(
                parse(text), self._source(), call.version, include_deleted=include_deleted
            ),
        )
        if result.count_only:
            return _json({"totalSize": result.total_size, "done": True, "records": []})
        batch = self._batch_size(call) or DEFAULT_BATCH
        if len(result.records) <= batch:
            self.ctx.note_records(call.request, len(result.records))
            return _json({"totalSize": result.total_size, "done": True, "records": result.records})
        self._cursor_counter += 1
        locator = make_id("01g", self._cursor_counter)
        self.cursors[locator] = {
            "rows": result.records,
            "batch": batch,
            "endpoint": call.params["endpoint"],
            "touched": time.monotonic(),
        }
        self._expire_cursors()
        return self._page(call, locator, 0)

    def query_more(self, call: Call) -> Response:
        locator = call.params["locator"]
        cursor = self.cursors.get(locator)
        if cursor is None or cursor["endpoint"] != call.params["endpoint"]:
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(call.params["offset"])
        if offset > len(cursor["rows"]):
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor["batch"] = self._batch_size(call) or cursor["batch"]
        return self._page(call, locator, offset)

    def _page(self, call: Call, locator: str, offset: int) -> Response:
        cursor = self.cursors[locator]
        cursor["touched"] = time.monotonic()
        self.cursors.move_to_end(locator)
        rows = cursor["rows"]
        end = offset + cursor["batch"]
        page = rows[offset:end]
        self.ctx.note_records(call.request, len(page))
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if end < len(rows):
            body["nextRecordsUrl"] = (
                f"/services/data/v{call.version}/{cursor['endpoint']}/{locator}-{end}"
            )
        body["records"] = page
        return _json(body)

    def _expire_cursors(self) -> None:
        cutoff = time.monotonic() - CURSOR_IDLE_SECONDS
        for locator in [k for k, c in self.cursors.items() if c["touched"] < cutoff]:
            del self.cursors[locator]
        while len(self.cursors) > MAX_CURSORS:
            self.cursors.popitem(last=False)

    # --- Bulk API 2.0 ingest --------------------------------------------------------------

    def job_create(self, call: Call) -> Response:
        job = self.bulk.create(call.json(), call.version)
        return _json(job.info(created=True))

    def job_list(self, call: Call) -> Response:
        jobs = [job.info() for job in self.bulk.jobs.values()]
        return _json({"done": True, "records": jobs, "nextRecordsUrl": None})

    def job_info(self, call: Call) -> Response:
        return _json(self.bulk.get(call.params["job"]).info())

    def job_upload(self, call: Call) -> Response:
        self.bulk.upload(call.params["job"], call.body)
        return Response(status_code=201)

    def job_state(self, call: Call) -> Response:
        faults = self.ctx.faults
        path = call.request.url.path

        def fails(key: str) -> bool:
            return faults is not None and faults.record_fails(key, path)

        delay = float(self.ctx.settings.get("salesforce_bulk_delay_seconds") or 0.0)
        info = self.bulk.set_state(call.params["job"], call.json(), fails, delay)
        job = self.bulk.get(call.params["job"])
        self.ctx.note_records(call.request, job.processed)
        return _json(info)

    def job_delete(self, call: Call) -> Response:
        self.bulk.delete(call.params["job"])
        return _no_content()

    def job_results(self, call: Call) -> Response:
        text = self.bulk.results_csv(call.params["job"], call.params["kind"])
        lines = max(0, text.count("\n") - 1)
        self.ctx.note_records(call.request, lines)
        return Response(text, media_type="text/csv", headers={"Sforce-Locator": "null"})

    # --- Tooling API ----------------------------------------------------------------------

    def tooling_sobjects(self, call: Call) -> Response:
        return _json(
            {
                "encoding": "UTF-8",
                "maxBatchSize": MAX_COLLECTION,
                "sobjects": [tooling.CUSTOM_FIELD.summary(call.version)],
            }
        )

    def tooling_create(self, call: Call) -> Response:
        field_id = tooling.create_custom_field(self.store, call.json())
        return _json(
            {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []}, 201
        )

    def tooling_get(self, call: Call) -> Response:
        return _json(tooling.get_custom_field(self.store, call.params["id"], call.version))

    def tooling_delete(self, call: Call) -> Response:
        tooling.delete_custom_field(self.store, call.params["id"])
        return _no_content()

    def tooling_query(self, call: Call) -> Response:
        text = call.arg("q")
        if text is None:
            raise SfError(400, "MALFORMED_QUERY", "The q parameter with a SOQL query is required")
        result = self._soql(text, lambda: tooling.query(self.store, text, call.version))
        records = [] if result.count_only else result.records
        return _json(
            {
                "size": result.total_size,
                "totalSize": result.total_size,
                "done": True,
                "queryLocator": None,
                "entityTypeName": "CustomField",
                "records": records,
            }
        )


def _describe_error(exc: Exception) -> str:
    if isinstance(exc, RecordError | SfError):
        return f"{exc.code}: {exc.message}"
    if isinstance(exc, ValueTypeError):
        return f"JSON_PARSER_ERROR: {exc.json_message()}"
    return str(exc)
