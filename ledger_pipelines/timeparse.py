"""Parsing the times users type: ``--as-of`` and ``--known-at`` (interfaces.md).

A date ``YYYY-MM-DD`` means the *end* of that day in the reporting time zone: every entry
effective on or before that day. A timestamp must carry an offset (``2024-03-31T23:00:00+02:00``
or ``...Z``); without one it is ambiguous and refused.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ONE_MICROSECOND = timedelta(microseconds=1)


class TimeInputError(ValueError):
    """The text is neither a date nor a timestamp with offset."""


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The last representable instant of ``day`` in ``tz`` (next local midnight minus 1 µs).

    Computed in UTC: aware arithmetic in Python is wall-clock arithmetic, which picks the first
    of two 23:59:59.999999 when the clock goes back at midnight (America/Santiago in April) and
    would end the day an hour early.
    """
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return (next_midnight - ONE_MICROSECOND).astimezone(tz)


def parse_instant(text: str, tz: ZoneInfo, *, what: str = "--as-of") -> datetime:
    """``YYYY-MM-DD`` (end of that day in ``tz``) or an RFC 3339 timestamp with offset."""
    text = text.strip()
    if _DATE.match(text):
        try:
            return end_of_day(date.fromisoformat(text), tz)
        except ValueError as exc:
            raise TimeInputError(f"{what} {text!r} is not a real date: {exc}.") from exc
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise TimeInputError(
            f"{what} {text!r} is neither a date (YYYY-MM-DD) nor a timestamp (2024-03-31T23:00:00+02:00)."
        ) from exc
    if value.tzinfo is None:
        raise TimeInputError(
            f"{what} {text!r} has no UTC offset, so it could mean different instants; add one, e.g. {text}Z or {text}+02:00."
        )
    return value
