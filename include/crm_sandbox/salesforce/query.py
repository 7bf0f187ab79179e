"""Run a parsed SOQL query against the store: name resolution, typing, filtering, ordering."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crm_sandbox.salesforce.ids import normalize_id
from crm_sandbox.salesforce.schema import NUMBER_TYPES, STRING_TYPES, FieldDef, ObjectDef
from crm_sandbox.salesforce.soql import (
    Aggregate,
    BoolOp,
    Comparison,
    CountAll,
    FieldPath,
    InList,
    Like,
    Literal,
    Not,
    Query,
    SoqlError,
)
from crm_sandbox.salesforce.values import parse_date, parse_datetime

Record = dict[str, Any]
MAX_OFFSET = 2000
MAX_DEPTH = 5


@dataclass(frozen=True)
class Source:
    """Where a query reads from: object names, rows, and parent lookups by id."""

    find_object: Callable[[str], ObjectDef | None]
    rows: Callable[[ObjectDef, bool], Iterable[Record]]  # (object, include_deleted)
    lookup: Callable[[str], tuple[ObjectDef, Record] | None]
    now: Callable[[], datetime]


@dataclass(frozen=True)
class Resolved:
    """A field path resolved against the schema."""

    rels: tuple[FieldDef, ...]  # lookup fields walked, in order
    names: tuple[str, ...]  # canonical relationship names, in order
    field: FieldDef  # the final field (of the first target object that has it)

    def value(self, rec: Record, source: Source) -> Any:
        current: Record | None = rec
        for rel in self.rels:
            parent_id = current.get(rel.name) if current else None
            found = source.lookup(parent_id) if parent_id else None
            current = found[1] if found else None
            if current is None:
                return None
        return current.get(self.field.name) if current else None


def _invalid_field(message: str, pos: int) -> SoqlError:
    return SoqlError(message, pos, "INVALID_FIELD")


def resolve(obj: ObjectDef, path: FieldPath, source: Source) -> Resolved:
    parts = path.parts
    if len(parts) > MAX_DEPTH + 1:
        raise SoqlError("relationship paths are limited to 5 levels", path.pos)
    if len(parts) > 1 and parts[0].lower() == obj.name.lower():
        parts = parts[1:]  # "Account.Name" FROM Account
    current = [obj]
    rels: list[FieldDef] = []
    names: list[str] = []
    for part in parts[:-1]:
        rel = next((o.relationship(part) for o in current if o.relationship(part)), None)
        if rel is None:
            raise _invalid_field(
                f"Didn't understand relationship '{part}' in field path. If you are attempting "
                "to use a custom relationship, be sure to append the '__r' after the custom "
                "relationship name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
                path.pos,
            )
        rels.append(rel)
        names.append(rel.relationship_name or part)
        current = [t for t in (source.find_object(n) for n in rel.reference_to) if t]
    last = parts[-1]
    fdef = next((o.field(last) for o in current if o.field(last)), None)
    if fdef is None:
        where = current[0].name if len(current) == 1 else "/".join(o.name for o in current)
        raise _invalid_field(
            f"No such column '{last}' on entity '{where}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
            path.pos,
        )
    return Resolved(tuple(rels), tuple(names), fdef)


# --- typed comparison --------------------------------------------------------------------


def _type_error(fdef: FieldDef, lit: Literal, want: str, quoted: bool) -> SoqlError:
    quote = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
    return SoqlError(
        f"value of filter criterion for field '{fdef.name}' must be of type {want} and {quote}",
        lit.pos,
        "INVALID_QUERY_FILTER_OPERATOR",
    )


def _day_range(lit: Literal, today: date) -> tuple[date, date]:
    """[start, end) of a date literal such as TODAY or LAST_N_DAYS:7."""
    name, n = lit.value
    one = timedelta(days=1)
    if name == "TODAY":
        return today, today + one
    if name == "YESTERDAY":
        return today - one, today
    if name == "TOMORROW":
        return today + one, today + 2 * one
    if name in ("LAST_N_DAYS", "LAST_90_DAYS"):
        days = 90 if n is None else n
        return today - days * one, today + one
    if name in ("NEXT_N_DAYS", "NEXT_90_DAYS"):
        days = 90 if n is None else n
        return today + one, today + (days + 1) * one
    if name == "N_DAYS_AGO":
        return today - n * one, today - (n - 1) * one
    week_start = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday
    if name in ("THIS_WEEK", "LAST_WEEK", "NEXT_WEEK"):
        shift = {"THIS_WEEK": 0, "LAST_WEEK": -7, "NEXT_WEEK": 7}[name]
        start = week_start + timedelta(days=shift)
        return start, start + 7 * one
    if name in ("THIS_MONTH", "LAST_MONTH", "NEXT_MONTH"):
        month_index = today.year * 12 + today.month - 1
        month_index += {"THIS_MONTH": 0, "LAST_MONTH": -1, "NEXT_MONTH": 1}[name]
        start = date(month_index // 12, month_index % 12 + 1, 1)
        nxt = month_index + 1
        return start, date(nxt // 12, nxt % 12 + 1, 1)
    year = today.year + {"THIS_YEAR": 0, "LAST_YEAR": -1, "NEXT_YEAR": 1}[name]
    return date(year, 1, 1), date(year + 1, 1, 1)


class _Operand:
    """A literal converted for comparison with one field: a point value or a [lo, hi) range."""

    def __init__(self, fdef: FieldDef, lit: Literal, source: Source) -> None:
        self.fdef = fdef
        self.is_null = lit.kind == "null"
        self.range: tuple[Any, Any] | None = None
        self.point: Any = None
        if self.is_null:
            return
        kind = fdef.type
        if kind in STRING_TYPES:
            if lit.kind != "string":
                raise _type_error(fdef, lit, "string", quoted=True)
            text = lit.value.replace("\\%", "%").replace("\\_", "_")
            if kind in ("id", "reference"):
                self.point = (normalize_id(text) or text).lower()
            else:
                self.point = text.casefold()
        elif kind in NUMBER_TYPES:
            if lit.kind != "number":
                raise _type_error(fdef, lit, "double" if kind != "int" else "int", quoted=False)
            self.point = float(lit.value)
        elif kind == "boolean":
            if lit.kind != "boolean":
                raise _type_error(fdef, lit, "boolean", quoted=False)
            self.point = lit.value
        elif kind == "date":
            if lit.kind == "date":
                parsed = parse_date(lit.value)
                if parsed is None:
                    raise SoqlError(f"invalid date: {lit.text}", lit.pos)
                self.point = parsed
            elif lit.kind == "date_literal":
                self.range = _day_range(lit, source.now().date())
            else:
                raise _type_error(fdef, lit, "date", quoted=lit.kind == "string")
        elif kind == "datetime":
            if lit.kind == "datetime":
                parsed_dt = parse_datetime(lit.value)
                if parsed_dt is None:
                    raise SoqlError(f"invalid datetime: {lit.text}", lit.pos)
                self.point = parsed_dt
            elif lit.kind == "date_literal":
                lo, hi = _day_range(lit, source.now().date())
                self.range = (
                    datetime(lo.year, lo.month, lo.day, tzinfo=UTC),
                    datetime(hi.year, hi.month, hi.day, tzinfo=UTC),
                )
            else:
                raise _type_error(fdef, lit, "dateTime", quoted=False)
        else:  # pragma: no cover - every field type is handled above
            raise SoqlError(f"cannot filter on field {fdef.name}", lit.pos)


def comparable(fdef: FieldDef, value: Any) -> Any:
    """A stored value in the form used for comparison and ordering."""
    if value is None:
        return None
    kind = fdef.type
    if kind in ("id", "reference"):
        return str(value).lower()
    if kind in STRING_TYPES:
        return str(value).casefold()
    if kind in NUMBER_TYPES:
        return float(value)
    if kind == "date":
        return parse_date(value)
    if kind == "datetime":
        return parse_datetime(value)
    return value


def _compare(op: str, left: Any, operand: _Operand) -> bool:
    if operand.is_null:
        if op == "=":
            return left is None
        if op == "!=":
            return left is not None
        return False
    if left is None:
        return op == "!="
    if operand.range is not None:
        lo, hi = operand.range
        inside = lo <= left < hi
        return {
            "=": inside,
            "!=": not inside,
            "<": left < lo,
            "<=": left < hi,
            ">": left >= hi,
            ">=": left >= lo,
        }[op]
    right = operand.point
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if isinstance(left, bool) or isinstance(right, bool):
        raise SoqlError("inequality operators cannot be used with boolean fields")
    return {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


# --- compiling the WHERE clause into a predicate -----------------------------------------

Predicate = Callable[[Record], bool]


def _compile(node: Any, obj: ObjectDef, source: Source) -> Predicate:
    if isinstance(node, BoolOp):
        parts = [_compile(item, obj, source) for item in node.items]
        if node.op == "AND":
            return lambda rec: all(p(rec) for p in parts)
        return lambda rec: any(p(rec) for p in parts)
    if isinstance(node, Not):
        inner = _compile(node.item, obj, source)
        return lambda rec: not inner(rec)
    if isinstance(node, Comparison):
        res = resolve(obj, node.path, source)
        operand = _Operand(res.field, node.value, source)
        if node.op not in ("=", "!=") and res.field.type == "boolean" and not operand.is_null:
            raise SoqlError(
                f"invalid operator on boolean field {res.field.name}: {node.op}", node.value.pos
            )
        op = node.op
        fdef = res.field
        return lambda rec: _compare(op, comparable(fdef, res.value(rec, source)), operand)
    if isinstance(node, InList):
        res = resolve(obj, node.path, source)
        operands = [_Operand(res.field, lit, source) for lit in node.values]
        fdef = res.field

        def in_list(rec: Record) -> bool:
            left = comparable(fdef, res.value(rec, source))
            hit = any(_compare("=", left, o) for o in operands)
            return not hit if node.negate else hit

        return in_list
    if isinstance(node, Like):
        res = resolve(obj, node.path, source)
        if res.field.type not in STRING_TYPES:
            raise SoqlError(
                f"invalid operator on field {res.field.name}: LIKE needs a text field",
                node.pattern.pos,
                "INVALID_QUERY_FILTER_OPERATOR",
            )
        regex = _like_regex(node.pattern.value)

        def like(rec: Record) -> bool:
            value = res.value(rec, source)
            return value is not None and regex.fullmatch(str(value)) is not None

        return like
    raise SoqlError("unsupported condition")  # pragma: no cover - parser builds only the above


# --- execution ---------------------------------------------------------------------------


@dataclass
class Result:
    records: list[Record]
    total_size: int
    count_only: bool = False


def _record_url(version: str, obj: ObjectDef, rid: str) -> str:
    return f"/services/data/v{version}/sobjects/{obj.name}/{rid}"


def _shape(
    rec: Record,
    obj: ObjectDef,
    selected: list[Resolved],
    source: Source,
    version: str,
    include_url: bool = True,
) -> Record:
    """A query row: attributes, then the selected fields, parents as nested records."""
    row: Record = {"attributes": {"type": obj.name}}
    if include_url:
        row["attributes"]["url"] = _record_url(version, obj, rec["Id"])
    for res in selected:
        target, current, current_obj = row, rec, obj
        alive = True
        for rel, name in zip(res.rels, res.names, strict=True):
            parent_id = current.get(rel.name) if current else None
            found = source.lookup(parent_id) if parent_id else None
            if found is None:
                target.setdefault(name, None)
                alive = False
                break
            current_obj, current = found
            nested = target.get(name)
            if nested is None:
                nested = {"attributes": {"type": current_obj.name}}
                if include_url:
                    nested["attributes"]["url"] = _record_url(version, current_obj, current["Id"])
                target[name] = nested
            target = nested
        if alive:
            fname = res.field.name
            target[fname] = current.get(fname) if fname in current_obj.fields else None
    return row


def _sort(records: list[Record], keys: list[tuple[Resolved, bool, bool]], source: Source) -> None:
    for res, descending, nulls_first in reversed(keys):
        null_rank = 0 if nulls_first != descending else 2

        def key(rec: Record, res: Resolved = res, null_rank: int = null_rank) -> tuple[int, Any]:
            value = comparable(res.field, res.value(rec, source))
            return (null_rank, 0) if value is None else (1, value)

        records.sort(key=key, reverse=descending)


def execute(query: Query, source: Source, version: str, *, include_deleted: bool = False) -> Result:
    obj = source.find_object(query.sobject)
    if obj is None:
        raise SoqlError(
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
            query.sobject_pos,
            "INVALID_TYPE",
        )
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise SoqlError(
            f"Maximum SOQL offset allowed is {MAX_OFFSET}", 0, "NUMBER_OUTSIDE_VALID_RANGE"
        )
    aggregates = [s for s in query.select if isinstance(s, Aggregate)]
    plain = [s for s in query.select if isinstance(s, FieldPath)]
    if aggregates and plain:
        raise SoqlError(f"Field must be grouped or aggregated: {plain[0].parts[-1]}", plain[0].pos)
    selected: list[Resolved] = []
    seen: set[str] = set()
    for path in plain:
        res = resolve(obj, path, source)
        key = ".".join((*res.names, res.field.name)).lower()
        if key in seen:
            raise SoqlError(f"duplicate field selected: {path.dotted}", path.pos)
        seen.add(key)
        selected.append(res)
    predicate = _compile(query.where, obj, source) if query.where is not None else None
    order = [(resolve(obj, o.path, source), o.descending, o.nulls_first) for o in query.order_by]
    if query.is_count and order:
        raise SoqlError("ORDER BY cannot be used with COUNT()", query.order_by[0].path.pos)

    matched = [
        rec for rec in source.rows(obj, include_deleted) if predicate is None or predicate(rec)
    ]
    if any(isinstance(s, CountAll) for s in query.select):
        count = len(matched) - (query.offset or 0)
        count = max(0, count if query.limit is None else min(count, query.limit))
        return Result([], count, count_only=True)
    if aggregates:
        row: Record = {"attributes": {"type": "AggregateResult"}}
        for i, agg in enumerate(aggregates):
            res = resolve(obj, agg.path, source)
            row[agg.alias or f"expr{i}"] = sum(
                1 for rec in matched if res.value(rec, source) is not None
            )
        return Result([row], 1)
    _sort(matched, order, source)
    start = query.offset or 0
    end = None if query.limit is None else start + query.limit
    window = matched[start:end]
    rows = [_shape(rec, obj, selected, source, version) for rec in window]
    return Result(rows, len(rows))
