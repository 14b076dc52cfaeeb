"""``--as-of YYYY-MM-DD`` is the end of that local day, also on the days the clock changes at midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ledger_pipelines.timeparse import TimeInputError, end_of_day, parse_instant

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
