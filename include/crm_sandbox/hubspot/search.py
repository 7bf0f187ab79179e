"""CRM v3 search: filterGroups (OR of ANDed filters), sorts, properties, paging, 10k cap."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from crm_sandbox.hubspot.errors import validation_error
from crm_sandbox.hubspot.http import hubspot_errors, read_json
from crm_sandbox.hubspot.schema import QUERY_PROPERTIES, PropertyDef, comparable
from crm_sandbox.hubspot.store import HubSpotStore, Record, object_type

if TYPE_CHECKING:
    from crm_sandbox.hubspot.api import HubSpotApi

MAX_LIMIT = 200
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}
TOKEN_SPLIT = re.compile(r"[\s,;:/()\[\]]+")


def _tokens(value: str) -> list[str]:
    return [t for t in TOKEN_SPLIT.split(value.lower()) if t]


def _contains_token(value: str, pattern: str) -> bool:
    pattern = pattern.lower()
    whole = value.lower()
    if fnmatch.fnmatchcase(whole, pattern):
        return True
    return any(fnmatch.fnmatchcase(token, pattern) for token in _tokens(value))


class Filter:
    def __init__(self, store: HubSpotStore, type_: str, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise validation_error("each filter must be an object")
        self.name = str(raw.get("propertyName", ""))
        self.operator = str(raw.get("operator", "EQ")).upper()
        if self.operator not in OPERATORS:
            raise validation_error(
                f"Invalid operator {self.operator}. Valid operators: {sorted(OPERATORS)}"
            )
        prop = store.prop(type_, self.name)
        if prop is None:
            raise validation_error(f"Property {self.name!r} does not exist on {type_}")
        self.prop: PropertyDef = prop
        self.value = raw.get("value")
        self.high = raw.get("highValue")
        self.values = raw.get("values")
        needs_value = self.operator not in {"HAS_PROPERTY", "NOT_HAS_PROPERTY", "IN", "NOT_IN"}
        if needs_value and self.value is None:
            raise validation_error(f"Filter on {self.name} with {self.operator} needs a value")
        if self.operator == "BETWEEN" and self.high is None:
            raise validation_error(f"BETWEEN on {self.name} needs value and highValue")
        if self.operator in {"IN", "NOT_IN"} and not isinstance(self.values, list):
            raise validation_error(f"{self.operator} on {self.name} needs a values list")
        self.target = self._cmp(self.value)
        self.high_target = self._cmp(self.high)
        self.set = {self._cmp(v) for v in self.values or []}

    def _cmp(self, raw: Any) -> Any:
        if raw is None:
            return None
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        return comparable(self.prop, text)

    def matches(self, record: Record) -> bool:
        raw = record.properties.get(self.name)
        op = self.operator
        if op == "HAS_PROPERTY":
            return raw is not None
        if op == "NOT_HAS_PROPERTY":
            return raw is None
        if op == "NEQ":
            return raw is None or comparable(self.prop, raw) != self.target
        if op == "NOT_IN":
            return raw is None or comparable(self.prop, raw) not in self.set
        if op == "NOT_CONTAINS_TOKEN":
            return raw is None or not _contains_token(raw, str(self.value))
        if raw is None:
            return False
        if op == "CONTAINS_TOKEN":
            return _contains_token(raw, str(self.value))
        value = comparable(self.prop, raw)
        if op == "EQ":
            return value == self.target
        if op == "IN":
            return value in self.set
        try:
            if op == "LT":
                return value < self.target
            if op == "LTE":
                return value <= self.target
            if op == "GT":
                return value > self.target
            if op == "GTE":
                return value >= self.target
            if op == "BETWEEN":
                return self.target <= value <= self.high_target
        except TypeError:
            return False
        return False


def _sorts(raw: Any) -> list[tuple[str, bool]]:
    """[(property, descending)] from strings ("prop", "-prop", JSON) or objects."""
    out = []
    for item in raw or []:
        if isinstance(item, str) and item.strip().startswith("{"):
            try:
                item = json.loads(item)
            except ValueError:
                raise validation_error(f"Invalid sort {item!r}") from None
        if isinstance(item, dict):
            name = str(item.get("propertyName", ""))
            descending = str(item.get("direction", "ASCENDING")).upper() == "DESCENDING"
        elif isinstance(item, str):
            descending = item.startswith("-")
            name = item.lstrip("-")
        else:
            raise validation_error(f"Invalid sort {item!r}")
        out.append((name, descending))
    return out


def search(store: HubSpotStore, type_: str, body: Any, cap: int) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected a search request object")
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or not 0 < limit <= MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}, got {limit!r}")
    try:
        after = int(body.get("after") or 0)
    except (TypeError, ValueError):
        raise validation_error(f"Invalid after {body.get('after')!r}") from None
    if after >= cap:
        raise validation_error(
            f"Search results are limited to {cap} per query: cannot page past {cap} "
            f"(after={after}). Narrow the filters, e.g. on the last-modified date."
        )
    groups_raw = body.get("filterGroups") or []
    if len(groups_raw) > MAX_GROUPS:
        raise validation_error(f"Too many filterGroups: at most {MAX_GROUPS}")
    groups: list[list[Filter]] = []
    for group in groups_raw:
        filters = group.get("filters") or [] if isinstance(group, dict) else None
        if filters is None:
            raise validation_error("each filterGroup must be an object with filters")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(f"Too many filters in a group: at most {MAX_FILTERS_PER_GROUP}")
        groups.append([Filter(store, type_, f) for f in filters])
    if sum(len(g) for g in groups) > MAX_FILTERS:
        raise validation_error(f"Too many filters: at most {MAX_FILTERS} in all groups")
    sorts = _sorts(body.get("sorts"))
    for name, _desc in sorts:
        if store.prop(type_, name) is None:
            raise validation_error(f"Cannot sort by {name!r}: property does not exist")
    query = str(body.get("query") or "").strip().lower()
    properties = body.get("properties") or None

    hits = []
    for record in store.objects[type_].values():
        if record.archived:
            continue
        if groups and not any(all(f.matches(record) for f in group) for group in groups):
            continue
        if query and not any(
            query in (record.properties.get(p) or "").lower() for p in QUERY_PROPERTIES[type_]
        ):
            continue
        hits.append(record)
    hits.sort(key=lambda r: int(r.id))
    for name, descending in reversed(sorts):
        prop = store.prop(type_, name)
        present = [r for r in hits if comparable(prop, r.properties.get(name)) is not None]
        absent = [r for r in hits if comparable(prop, r.properties.get(name)) is None]
        present.sort(key=lambda r: comparable(prop, r.properties.get(name)), reverse=descending)
        hits = present + absent

    total = len(hits)
    end = min(after + limit, cap)
    page = hits[after:end]
    response: dict[str, Any] = {
        "total": total,
        "results": [store.render(type_, r, properties) for r in page],
    }
    if end < total:
        response["paging"] = {"next": {"after": str(end)}}
    return response


def register(router: APIRouter, api: HubSpotApi) -> None:
    @router.post("/crm/v3/objects/{object_type}/search")
    @hubspot_errors
    async def search_objects(request: Request, object_type: str) -> Response:
        type_ = _type(object_type)
        body = await read_json(request)
        cap = int(api.ctx.settings.get("hubspot_max_search_results", 10_000))
        with api.ctx.lock:
            result = search(api.store, type_, body, cap)
        api.ctx.note_records(request, len(result["results"]))
        return JSONResponse(result)


def _type(raw: str) -> str:
    return object_type(raw)
