"""Business-hours SLA arithmetic: due dates in a team's working calendar.

A calendar is a timezone, working weekdays, daily working hours (wall clock) and holidays
(explicit dates and/or a country's public holidays from the offline `holidays` package).
Times go in and come out as naive UTC, like everything in the warehouse; the arithmetic
happens in local wall-clock time, so a DST change moves the UTC offset of the result and
never the opening hours. A time outside working hours counts from the next opening.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib
from pydantic import Field, field_validator, model_validator

from handoff.config.loader import DEFAULT_CONFIG_DIR, load_yaml_model
from handoff.config.model import Strict

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_DAYS = 3660  # a calendar with no working day in ten years is a configuration error


class BusinessCalendar(Strict):
    """When a team works. Load it from include/config/calendar.yaml with `load_calendar`."""

    timezone: str = "America/New_York"
    working_days: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
    opens: time = time(9, 0)
    closes: time = time(17, 0)
    holidays: list[date] = []
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2,3}$")
    subdivision: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone '{value}'") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BusinessCalendar:
        if not self.working_days:
            raise ValueError("working_days: at least one working day is needed")
        if self.opens >= self.closes:
            raise ValueError("closes: working hours must close after they open, on the same day")
        if self.country is not None:
            try:
                holidays_lib.country_holidays(self.country, subdiv=self.subdivision, years=2026)
            except NotImplementedError:
                raise ValueError(
                    f"country: the holidays package has no calendar for '{self.country}'"
                ) from None
        elif self.subdivision is not None:
            raise ValueError("subdivision: needs a country")
        return self

    # -- calendar facts (nothing cached on the instance: model_copy(update=...) stays right)
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances itself

    @property
    def hours_per_day(self) -> float:
        return (
            _at(date(2000, 1, 1), self.closes) - _at(date(2000, 1, 1), self.opens)
        ).seconds / 3600

    def is_holiday(self, day: date) -> bool:
        if day in self.holidays:
            return True
        return self.country is not None and day in _public_holidays(self.country, self.subdivision)

    def is_working_day(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] in self.working_days and not self.is_holiday(day)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        for _ in range(_MAX_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError("the business calendar has no working day in ten years")

    # -- local time ------------------------------------------------------------------------
    def to_local(self, ts: datetime) -> datetime:
        """Naive UTC (or aware) -> naive local wall-clock time."""
        aware = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
        return aware.astimezone(self.zone).replace(tzinfo=None)

    def to_utc(self, local: datetime) -> datetime:
        """Naive local wall-clock time -> naive UTC."""
        return local.replace(tzinfo=self.zone).astimezone(UTC).replace(tzinfo=None)


@lru_cache(maxsize=64)
def _public_holidays(country: str, subdivision: str | None) -> holidays_lib.HolidayBase:
    """A country's public holidays; years are filled in on first lookup (offline)."""
    return holidays_lib.country_holidays(country, subdiv=subdivision)


def _at(day: date, t: time) -> datetime:
    return datetime.combine(day, t)


def _first_open(local: datetime, cal: BusinessCalendar) -> datetime:
    """The local time work on something arriving at `local` starts."""
    day = local.date()
    if cal.is_working_day(day) and local < _at(day, cal.closes):
        return max(local, _at(day, cal.opens))
    return _at(cal.next_working_day(day), cal.opens)


def add_business_hours(start: datetime, hours: float, cal: BusinessCalendar) -> datetime:
    """The naive-UTC time `hours` working hours after `start` (naive UTC).

    Counting starts at the next opening when `start` is outside working hours; a due time
    landing exactly on closing time stays on that day (17:00, not 09:00 the next day).
    """
    if hours < 0:
        raise ValueError("hours must not be negative")
    local = _first_open(cal.to_local(start), cal)
    remaining = timedelta(hours=hours)
    for _ in range(_MAX_DAYS):
        close = _at(local.date(), cal.closes)
        if local + remaining <= close:
            return cal.to_utc(local + remaining)
        remaining -= close - local
        local = _at(cal.next_working_day(local.date()), cal.opens)
    raise ValueError(f"{hours} business hours is more than ten years")


def end_of_business_day(start: datetime, cal: BusinessCalendar) -> datetime:
    """ "Same business day": today's closing time if `start` is before it on a working day,
    else the next working day's closing time (naive UTC in and out)."""
    local = cal.to_local(start)
    day = local.date()
    if not (cal.is_working_day(day) and local < _at(day, cal.closes)):
        day = cal.next_working_day(day)
    return cal.to_utc(_at(day, cal.closes))


def business_hours_between(a: datetime, b: datetime, cal: BusinessCalendar) -> float:
    """Working hours from `a` to `b` (naive UTC); negative when `b` is before `a`."""
    if b < a:
        return -business_hours_between(b, a, cal)
    lo, hi = cal.to_local(a), cal.to_local(b)
    total = timedelta()
    day = lo.date()
    for _ in range((hi.date() - day).days + 1):
        if cal.is_working_day(day):
            start = max(lo, _at(day, cal.opens))
            end = min(hi, _at(day, cal.closes))
            if end > start:
                total += end - start
        day += timedelta(days=1)
    return total.total_seconds() / 3600


def sla_due_at(
    start: datetime,
    cal: BusinessCalendar,
    business_hours: float | None = None,
    same_business_day: bool = False,
) -> datetime:
    """Due time of an SLA given as N business hours or as 'same business day'."""
    if same_business_day:
        return end_of_business_day(start, cal)
    if business_hours is None:
        raise ValueError("an SLA needs business_hours or same_business_day")
    return add_business_hours(start, business_hours, cal)


def load_calendar(path: str | Path | None = None) -> BusinessCalendar:
    """Read a business calendar (default include/config/calendar.yaml); ConfigError if bad."""
    return load_yaml_model(path or DEFAULT_CONFIG_DIR / "calendar.yaml", BusinessCalendar)
