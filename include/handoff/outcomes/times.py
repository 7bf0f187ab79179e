"""CRM timestamps -> naive UTC datetimes, and back for filters."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

_DIGITS = re.compile(r"^-?\d+$")


def parse_crm_time(raw: object, *, what: str = "timestamp") -> datetime | None:
    """HubSpot (`2026-01-15T10:00:00.000Z` or epoch milliseconds) and Salesforce
    (`2026-01-15T10:00:00.000+0000`, dates `2026-01-15`) times as naive UTC; None when empty.
    Raises ValueError naming `what` for anything else."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        moment = datetime.combine(raw, time(0))
    elif isinstance(raw, int | float) or (isinstance(raw, str) and _DIGITS.match(raw)):
        moment = datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
    elif isinstance(raw, str):
        text = raw.strip().replace("Z", "+00:00")
        text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what}: not a timestamp: {raw!r}") from None
    else:
        raise ValueError(f"{what}: not a timestamp: {raw!r}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def epoch_ms(moment: datetime) -> int:
    """A naive-UTC (or aware) datetime as epoch milliseconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal (unquoted, UTC, milliseconds)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
