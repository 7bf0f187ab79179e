"""Converting field values sent by clients (JSON or CSV) into stored values, and back."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from crm_sandbox.salesforce.errors import RecordError
from crm_sandbox.salesforce.schema import FieldDef

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?$"
)
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_JSON_TYPE_NAMES = {
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
}


class ValueTypeError(Exception):
    """A value that cannot be converted to the field's type."""

    def __init__(self, field: FieldDef, value: Any) -> None:
        super().__init__(f"{field.name}: {value!r}")
        self.field = field
        self.value = value

    def json_message(self) -> str:
        kind = _JSON_TYPE_NAMES.get(self.field.type, "String")
        token = "VALUE_STRING" if isinstance(self.value, str) else "START_OBJECT"
        if isinstance(self.value, bool):
            token = "VALUE_TRUE" if self.value else "VALUE_FALSE"
        elif isinstance(self.value, int | float):
            token = "VALUE_NUMBER_INT" if isinstance(self.value, int) else "VALUE_NUMBER_FLOAT"
        elif isinstance(self.value, list):
            token = "START_ARRAY"
        return (
            f"Cannot deserialize instance of {kind} from {token} value {self.value} or request "
            f"may be missing a required field at [line:1, column:1]"
        )

    def record_error(self) -> RecordError:
        return RecordError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{self.field.label}: value not of required type: {self.value}",
            [self.field.name],
        )


def format_datetime(dt: datetime) -> str:
    """Salesforce's wire format: 2026-01-01T00:00:00.000+0000 (UTC)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


@lru_cache(maxsize=65536)
def parse_datetime(text: str) -> datetime | None:
    """Parse the ISO-8601 forms Salesforce accepts; naive values are UTC."""
    m = _DATETIME_RE.match(text.strip())
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), micro)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        dt = dt.replace(tzinfo=timezone(sign * offset))
    else:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


@lru_cache(maxsize=65536)
def parse_date(text: str) -> date | None:
    m = _DATE_RE.match(text.strip())
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _number(field: FieldDef, value: Any) -> float | int:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise ValueTypeError(field, value)
    if isinstance(value, str):
        try:
            dec = Decimal(value.strip().replace(",", ""))
        except InvalidOperation as exc:
            raise ValueTypeError(field, value) from exc
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueTypeError(field, value)
        dec = Decimal(str(value))
    if not dec.is_finite():
        raise ValueTypeError(field, value)
    if field.type == "int":
        if dec != dec.to_integral_value():
            raise ValueTypeError(field, value)
        result: float | int = int(dec)
        max_digits = field.digits or 18
    else:
        dec = dec.quantize(Decimal(1).scaleb(-field.scale), rounding=ROUND_HALF_UP)
        result = float(dec)
        max_digits = (field.precision or 18) - field.scale
    if len(str(abs(int(dec)))) > max_digits and int(dec) != 0:
        raise RecordError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{field.label}: value outside of valid range on numeric field: {value}",
            [field.name],
        )
    return result


def _boolean(field: FieldDef, value: Any, csv: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        truthy = ("true", "1", "yes", "y") if csv else ("true",)
        falsy = ("false", "0", "no", "n") if csv else ("false",)
        if lowered in truthy:
            return True
        if lowered in falsy:
            return False
    raise ValueTypeError(field, value)


def _text(field: FieldDef, value: Any) -> str | None:
    if isinstance(value, dict | list):
        raise ValueTypeError(field, value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    if text == "":
        return None
    if field.type in ("id", "reference"):
        return text
    if field.length and len(text) > field.length:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise RecordError(
            "STRING_TOO_LONG",
            f"{field.label}: data value too large: {shown} (max length={field.length})",
            [field.name],
        )
    if field.type == "email" and not _EMAIL_RE.match(text):
        raise RecordError(
            "INVALID_EMAIL_ADDRESS", f"{field.label}: invalid email address: {text}", [field.name]
        )
    if field.type == "picklist" and field.restricted and field.picklist_value(text) is None:
        raise RecordError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{field.label}: bad value for restricted picklist field: {text}",
            [field.name],
        )
    return text


def coerce(field: FieldDef, value: Any, *, csv: bool = False) -> Any:
    """The stored form of `value` for `field`.

    Raises ValueTypeError for values of the wrong type (the caller decides whether that is a
    request-level JSON_PARSER_ERROR or a per-record INVALID_TYPE_ON_FIELD_IN_RECORD) and
    RecordError for values of the right type that break a field rule.
    """
    if value is None:
        return False if field.type == "boolean" else None
    if field.type in ("int", "double", "currency", "percent"):
        if isinstance(value, str) and value.strip() == "":
            return None
        return _number(field, value)
    if field.type == "boolean":
        return _boolean(field, value, csv)
    if field.type == "date":
        if not isinstance(value, str):
            raise ValueTypeError(field, value)
        if value.strip() == "":
            return None
        parsed = parse_date(value)
        if parsed is None:
            dt = parse_datetime(value) if csv else None
            if dt is None:
                raise ValueTypeError(field, value)
            parsed = dt.date()
        return parsed.isoformat()
    if field.type == "datetime":
        if not isinstance(value, str):
            raise ValueTypeError(field, value)
        if value.strip() == "":
            return None
        dt = parse_datetime(value)
        if dt is None:
            raise ValueTypeError(field, value)
        return format_datetime(dt)
    return _text(field, value)


def to_csv(value: Any) -> str:
    """A stored value as Bulk API CSV text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
