"""Business-hours SLA arithmetic: nights, weekends, holidays, DST, same business day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from handoff.errors import ConfigError
from handoff.sla import (
    BusinessCalendar,
    add_business_hours,
    business_hours_between,
    end_of_business_day,
    load_calendar,
    sla_due_at,
)

NY = BusinessCalendar(timezone="America/New_York")  # Mon-Fri 09:00-17:00, no holidays
# 2026-11-02 is a Monday; New York is UTC-5 then (EST). 2026-10-30 is a Friday in EDT (UTC-4).


def utc(*args: int) -> datetime:
    return datetime(*args)


def test_within_one_day() -> None:
    # Monday 10:00 EST + 3 h -> Monday 13:00 EST
    assert add_business_hours(utc(2026, 11, 2, 15), 3, NY) == utc(2026, 11, 2, 18)


def test_across_the_night() -> None:
    # Monday 16:00 EST + 2 h -> Tuesday 10:00 EST
    assert add_business_hours(utc(2026, 11, 2, 21), 2, NY) == utc(2026, 11, 3, 15)


def test_across_the_weekend() -> None:
    # Friday 2026-11-06 16:00 EST + 2 h -> Monday 2026-11-09 10:00 EST
    assert add_business_hours(utc(2026, 11, 6, 21), 2, NY) == utc(2026, 11, 9, 15)


def test_24_business_hours_is_three_days_and_ends_at_close() -> None:
    # Monday 09:00 EST + 24 h -> Wednesday 17:00 EST (not Thursday 09:00)
    assert add_business_hours(utc(2026, 11, 2, 14), 24, NY) == utc(2026, 11, 4, 22)


def test_outside_hours_counts_from_next_opening() -> None:
    # Monday 07:00 EST (before opening) + 1 h -> Monday 10:00
    assert add_business_hours(utc(2026, 11, 2, 12), 1, NY) == utc(2026, 11, 2, 15)
    # Saturday noon + 1 h -> Monday 10:00
    assert add_business_hours(utc(2026, 11, 7, 17), 1, NY) == utc(2026, 11, 9, 15)
    # Monday 20:00 EST + 0 h -> Tuesday 09:00 (the next opening)
    assert add_business_hours(utc(2026, 11, 3, 1), 0, NY) == utc(2026, 11, 3, 14)
    # fractional hours
    assert add_business_hours(utc(2026, 11, 2, 14), 1.5, NY) == utc(2026, 11, 2, 15, 30)


def test_explicit_holiday_is_skipped() -> None:
    cal = NY.model_copy(update={"holidays": [date(2026, 11, 3)]})
    # Monday 16:00 + 2 h: Tuesday is a holiday -> Wednesday 10:00
    assert add_business_hours(utc(2026, 11, 2, 21), 2, cal) == utc(2026, 11, 4, 15)


def test_country_holidays_from_the_holidays_package() -> None:
    cal = BusinessCalendar(timezone="America/New_York", country="US")
    assert cal.is_holiday(date(2026, 11, 26))  # Thanksgiving
    # Wednesday 2026-11-25 16:00 EST + 2 h -> Friday 2026-11-27 10:00 EST
    assert add_business_hours(utc(2026, 11, 25, 21), 2, cal) == utc(2026, 11, 27, 15)
    assert add_business_hours(utc(2026, 11, 25, 21), 2, NY) == utc(2026, 11, 26, 15)


def test_dst_end_keeps_wall_clock_hours() -> None:
    # Friday 2026-10-30 16:00 EDT (20:00 UTC) + 2 h -> Monday 2026-11-02 10:00 EST (15:00 UTC)
    assert add_business_hours(utc(2026, 10, 30, 20), 2, NY) == utc(2026, 11, 2, 15)


def test_dst_start_keeps_wall_clock_hours() -> None:
    # Friday 2026-03-06 16:00 EST (21:00 UTC) + 2 h -> Monday 2026-03-09 10:00 EDT (14:00 UTC)
    assert add_business_hours(utc(2026, 3, 6, 21), 2, NY) == utc(2026, 3, 9, 14)
    assert business_hours_between(utc(2026, 3, 6, 21), utc(2026, 3, 9, 14), NY) == 2.0


def test_same_business_day() -> None:
    # Monday 10:00 EST -> Monday 17:00 EST
    assert end_of_business_day(utc(2026, 11, 2, 15), NY) == utc(2026, 11, 2, 22)
    # Monday 07:00 EST (before opening, working day) -> Monday 17:00
    assert end_of_business_day(utc(2026, 11, 2, 12), NY) == utc(2026, 11, 2, 22)
    # Monday 17:00 EST exactly (at close) -> Tuesday 17:00
    assert end_of_business_day(utc(2026, 11, 2, 22), NY) == utc(2026, 11, 3, 22)
    # Friday 18:00 EST -> Monday 17:00
    assert end_of_business_day(utc(2026, 11, 6, 23), NY) == utc(2026, 11, 9, 22)
    # Friday before a Monday holiday -> Tuesday
    cal = NY.model_copy(update={"holidays": [date(2026, 11, 9)]})
    assert end_of_business_day(utc(2026, 11, 6, 23), cal) == utc(2026, 11, 10, 22)
    assert sla_due_at(utc(2026, 11, 2, 15), NY, same_business_day=True) == utc(2026, 11, 2, 22)
    assert sla_due_at(utc(2026, 11, 2, 15), NY, business_hours=1) == utc(2026, 11, 2, 16)


def test_other_timezone_and_week() -> None:
    # Sun-Thu 08:00-16:00 in Dubai (UTC+4, no DST)
    cal = BusinessCalendar(
        timezone="Asia/Dubai",
        working_days=["sun", "mon", "tue", "wed", "thu"],
        opens=time(8),
        closes=time(16),
    )
    # Thursday 2026-11-05 15:00 local (11:00 UTC) + 2 h -> Sunday 09:00 local (05:00 UTC)
    assert add_business_hours(utc(2026, 11, 5, 11), 2, cal) == utc(2026, 11, 8, 5)


def test_business_hours_between() -> None:
    # Friday 16:00 EST -> Monday 10:00 EST: 2 working hours
    assert business_hours_between(utc(2026, 11, 6, 21), utc(2026, 11, 9, 15), NY) == 2.0
    assert business_hours_between(utc(2026, 11, 9, 15), utc(2026, 11, 6, 21), NY) == -2.0
    # a weekend only
    assert business_hours_between(utc(2026, 11, 7, 12), utc(2026, 11, 8, 20), NY) == 0.0


@pytest.mark.parametrize("hours", [0.5, 3, 8, 24, 48, 100])
def test_between_inverts_add(hours: float) -> None:
    cal = BusinessCalendar(timezone="America/New_York", country="US")
    start = utc(2026, 10, 28, 3)
    for step in range(0, 24 * 14, 7):  # across DST end, weekends, Veterans Day
        t = start + timedelta(hours=step)
        due = add_business_hours(t, hours, cal)
        assert business_hours_between(t, due, cal) == pytest.approx(hours)


def test_shipped_calendar_loads() -> None:
    cal = load_calendar()
    assert cal.timezone == "America/New_York"
    assert cal.hours_per_day == 8
    assert cal.is_holiday(date(2026, 12, 25)) and cal.is_holiday(date(2026, 12, 24))


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ("timezone: Mars/Olympus\n", "timezone", "unknown IANA timezone"),
        ('opens: "18:00"\ncloses: "09:00"\n', "closes", "close after they open"),
        ("country: XX\n", "country", "no calendar for 'XX'"),
        ("working_days: [mon, funday]\n", "working_days[1]", "Input should be"),
        ("holidays: [not-a-date]\n", "holidays[0]", "date"),
        ("timezone: UTC\nhours: 8\n", "hours", "unknown key"),
    ],
)
def test_calendar_errors_name_the_key(tmp_path: Path, body: str, key: str, message: str) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_calendar(path)
    assert str(path) in str(err.value)
    assert any(k == key and message in m for k, m in err.value.problems), err.value.problems
