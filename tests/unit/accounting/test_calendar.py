"""The reporting calendar: ``--as-of YYYY-MM-DD`` is the end of that local day and a month runs from the start
of its first day, also on the days the clock changes at midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ledger_pipelines.accounting.calendar import (
    ONE_MICROSECOND,
    TimeInputError,
    end_of_day,
    local_day,
    parse_instant,
    period_bounds,
    start_of_day,
)
from ledger_pipelines.accounting.errors import PeriodError

SANTIAGO = ZoneInfo("America/Santiago")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day", "last_instant_utc"),
    [
        ("UTC", date(2024, 3, 12), utc(2024, 3, 12, 23, 59, 59, 999999)),
        ("Asia/Tokyo", date(2024, 3, 12), utc(2024, 3, 12, 14, 59, 59, 999999)),
        # Chile: on 2024-04-06 at 24:00 (-03) the clock goes back to 23:00 (-04); the 23:xx hour
        # happens twice and the day ends at 04:00Z, not at the first 23:59:59.999999 (03:00Z).
        ("America/Santiago", date(2024, 4, 6), utc(2024, 4, 7, 3, 59, 59, 999999)),
        # Chile: on 2024-09-08 midnight does not exist (00:00 -04 -> 01:00 -03); 09-07 ends at 04:00Z.
        ("America/Santiago", date(2024, 9, 7), utc(2024, 9, 8, 3, 59, 59, 999999)),
        # Europe: the change is at 02:00/03:00, the day boundary is unaffected
        ("Europe/Berlin", date(2024, 10, 27), utc(2024, 10, 27, 22, 59, 59, 999999)),
    ],
)
def test_a_date_means_the_last_microsecond_of_that_local_day(zone, day, last_instant_utc):
    end = end_of_day(day, ZoneInfo(zone))
    assert end.astimezone(UTC) == last_instant_utc
    # one microsecond later it is the next local day, and the instant itself is still on ``day``
    assert (end.astimezone(UTC) + timedelta(microseconds=1)).astimezone(ZoneInfo(zone)).date() == day + timedelta(days=1)
    assert end.astimezone(ZoneInfo(zone)).date() == day
    assert parse_instant(day.isoformat(), ZoneInfo(zone)) == end


def test_an_entry_in_the_repeated_hour_belongs_to_the_day_it_shows_on_the_clock():
    second_2330 = utc(2024, 4, 7, 3, 30)  # 23:30 -04, the second 23:30 of 2024-04-06 in Santiago
    assert second_2330.astimezone(SANTIAGO).date() == date(2024, 4, 6)
    assert second_2330 <= parse_instant("2024-04-06", SANTIAGO)


def test_a_timestamp_needs_an_offset():
    assert parse_instant("2024-04-06T12:00:00+02:00", SANTIAGO) == utc(2024, 4, 6, 10)
    with pytest.raises(TimeInputError):
        parse_instant("2024-04-06T12:00:00", SANTIAGO)


@pytest.mark.parametrize(
    ("zone", "period", "starts_utc", "ends_utc"),
    [
        # a DST zone: March starts in winter time and ends in summer time
        ("Europe/Berlin", "2024-03", utc(2024, 2, 29, 23), utc(2024, 3, 31, 22)),
        # Paraguay skipped midnight of 2023-10-01 (00:00 -04 -> 01:00 -03): October starts at the jump
        ("America/Asuncion", "2023-10", utc(2023, 10, 1, 4), utc(2023, 11, 1, 3)),
        ("America/Asuncion", "2023-09", utc(2023, 9, 1, 4), utc(2023, 10, 1, 4)),
        # Cuba had midnight twice on 2020-11-01 (01:00 -04 -> 00:00 -05): November starts at the first
        ("America/Havana", "2020-11", utc(2020, 11, 1, 4), utc(2020, 12, 1, 5)),
        ("America/Havana", "2020-10", utc(2020, 10, 1, 4), utc(2020, 11, 1, 4)),
    ],
)
def test_a_month_runs_from_the_start_of_its_first_day_to_the_start_of_the_next_months(zone, period, starts_utc, ends_utc):
    tz = ZoneInfo(zone)
    bounds = period_bounds(period, tz)
    assert (bounds.starts_at.astimezone(UTC), bounds.ends_at.astimezone(UTC)) == (starts_utc, ends_utc)
    assert bounds.starts_at == start_of_day(date.fromisoformat(f"{period}-01"), tz)
    # the first instant is on the month's first day, the one before it on the previous month's last day
    assert local_day(starts_utc, tz).isoformat()[:7] == period
    assert local_day(starts_utc - ONE_MICROSECOND, tz).isoformat()[:7] < period
    assert local_day(ends_utc - ONE_MICROSECOND, tz).isoformat()[:7] == period


def test_a_malformed_period_is_refused_with_the_expected_form():
    with pytest.raises(PeriodError, match="YYYY-MM"):
        period_bounds("2024-13", SANTIAGO)
