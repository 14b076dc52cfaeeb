"""The reporting calendar: instants and the days, months and texts that name them.

Rule (source-events.md, interfaces.md, docs/architecture.md "Money, time, identity"):

* An instant's **reporting day** is its date on the clock of the reporting time zone
  (``SUBLEDGER_TIMEZONE``): :func:`local_day`, :func:`local_day_expr`.
* A **day starts** at its local midnight -- when the clock skips midnight, at the instant it
  jumps; when midnight happens twice, at the first -- and **ends** one microsecond before the next
  day starts. One technique: local midnight minus the UTC offset in force just before it
  (:func:`_midnight_offset`), in UTC. Aware arithmetic in Python is wall-clock arithmetic, which
  would pick the first of two 23:59:59.999999 when the clock goes back at midnight (America/Santiago
  in April) and end that day an hour early; DuckDB would pick the second of two midnights
  (America/Havana in November). A day the zone skipped entirely (Pacific/Apia, 2011-12-30) has
  no instant: it starts where the next day starts.
* A **month** (an accounting period ``YYYY-MM``) runs from the start of its first day to the
  start of the next month's first day: :func:`period_bounds`.
* **Time text.** An event's timestamp is RFC 3339 with an offset (``T``, ``t`` or a space between
  date and time; ``Z``, ``z`` or ``+hh:mm``; up to 9 fraction digits, truncated to microseconds)
  and its bare date ``YYYY-MM-DD`` means the start of that day (:func:`parse_instants`); a date a
  person types (``--as-of``, ``--known-at``) means the *end* of that day and a timestamp there is
  any ISO 8601 text Python reads, with an offset (:func:`parse_instant`). Without an offset a
  timestamp could mean different instants and is refused.

The warehouse's DuckDB macros ``local_day``, ``day_start``, ``day_end`` (``sql/warehouse/macros.sql``)
are the same rule in SQL; ``tests/unit/accounting/test_pairs.py`` proves them equal on random
instants and days in zones with clock changes at midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from ledger_pipelines.accounting.errors import PeriodError

ONE_MICROSECOND = timedelta(microseconds=1)
UTC_TIME = pl.Datetime("us", "UTC")

DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP_WITH_OFFSET = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
TIMESTAMP_WITHOUT_OFFSET = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?$"
# The common spelling of TIMESTAMP_WITH_OFFSET ('T', 'Z' or '+hh:mm'), parsed in one pass.
_TIMESTAMP_COMMON = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
_DATE = re.compile(DATE_TEXT)
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class TimeInputError(ValueError):
    """The text is neither a date nor a timestamp with offset."""


# -- instants -> days ---------------------------------------------------------------------------------

def local_day(instant: datetime, tz: ZoneInfo) -> date:
    """The reporting day of an aware ``instant``."""
    return instant.astimezone(tz).date()


def local_day_expr(instants: pl.Expr, tz: str) -> pl.Expr:
    """:func:`local_day` of every instant of a column of UTC (or any aware) datetimes."""
    return instants.dt.convert_time_zone(tz).dt.date()


# -- days -> instants ---------------------------------------------------------------------------------

def _midnight_offset(day: date, tz: ZoneInfo) -> timedelta:
    """The UTC offset that places ``day``'s local midnight: the one in force just before it (PEP 495's
    ``fold=0``), so a skipped midnight lands on the instant the clock jumps and a repeated one on
    the first of the two."""
    offset = datetime.combine(day, time(0), tzinfo=tz).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``tz`` (as an aware datetime in ``tz``)."""
    return (datetime.combine(day, time(0)) - _midnight_offset(day, tz)).replace(tzinfo=UTC).astimezone(tz)


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The last instant of ``day`` in ``tz``: the next day's start minus 1 µs (in ``tz``).

    9999-12-31 has no next day in Python: its end is its last microsecond on the clock (no zone
    changes its clock at the end of year 9999).
    """
    if day == date.max:
        return datetime.combine(day, time.max, tzinfo=tz)
    return (start_of_day(day + timedelta(days=1), tz).astimezone(UTC) - ONE_MICROSECOND).astimezone(tz)


def starts_of_days(days: pl.Series, tz: str) -> pl.Series:
    """:func:`start_of_day` of every date of ``days`` as UTC instants; null for a day the zone
    skipped (it has no instant) and for null. Each distinct day is placed once, in Python."""
    zone = ZoneInfo(tz)
    distinct = days.drop_nulls().unique().to_list()
    offsets = {day: _midnight_offset(day, zone) for day in distinct}
    real = [day for day in distinct if _exists(day, zone)]
    frame = pl.DataFrame({"day": days.cast(pl.Date)})
    return frame.select(
        pl.when(pl.col("day").is_in(pl.Series(real, dtype=pl.Date).implode()))
        .then(pl.col("day").cast(pl.Datetime("us"))
              - pl.col("day").replace_strict(pl.Series(list(offsets), dtype=pl.Date),
                                             pl.Series(list(offsets.values()), dtype=pl.Duration("us")), default=None))
        .dt.replace_time_zone("UTC")
    ).to_series().alias(days.name)


def _exists(day: date, tz: ZoneInfo) -> bool:
    """Whether some instant falls on ``day`` in ``tz`` (its start does)."""
    try:
        return local_day(start_of_day(day, tz), tz) == day
    except OverflowError:  # year 1 east of UTC or 9999 west of it: no clock changes there
        return True


@dataclass(frozen=True)
class Period:
    """A month of the reporting calendar: ``[starts_at, ends_at)``."""

    period: str
    starts_at: datetime
    ends_at: datetime
    timezone: str


def period_bounds(period: str, tz: ZoneInfo) -> Period:
    """``YYYY-MM`` -> the start of its first day and the start of the next month's first day in ``tz``."""
    match = _PERIOD.match(period)
    if not match:
        raise PeriodError(f"period={period!r}: write a month as YYYY-MM, e.g. 2024-03.")
    year, month = int(match[1]), int(match[2])
    first, next_first = date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
    return Period(period, start_of_day(first, tz), start_of_day(next_first, tz), tz.key)


# -- time text ----------------------------------------------------------------------------------------

def parse_instant(text: str, tz: ZoneInfo, *, what: str = "--as-of") -> datetime:
    """What a person means by ``text``: ``YYYY-MM-DD`` is the end of that day in ``tz``; otherwise an
    ISO 8601 timestamp with an offset (:class:`TimeInputError` naming ``what`` if neither)."""
    text = text.strip()
    if _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise TimeInputError(f"{what} {text!r} is not a real date: {exc}.") from exc
        return end_of_day(day, tz)
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


def parse_date(text: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DD`` -> that date (null if the text is not one or names no real date)."""
    return pl.when(text.str.contains(DATE_TEXT)).then(text.str.to_date("%Y-%m-%d", strict=False))


def parse_timestamp(text: pl.Expr) -> pl.Expr:
    """An event's RFC 3339 timestamp with offset -> UTC instant (null if the text is not one or
    names no real instant)."""
    normalised = (text.str.head(10) + pl.lit("T") + text.str.slice(11)).str.replace(r"[Zz]$", "+00:00")
    return pl.when(text.str.contains(TIMESTAMP_WITH_OFFSET)).then(
        normalised.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", time_zone="UTC", strict=False)
    )


def parse_instants(text: pl.Series, tz: str | None) -> pl.Series:
    """Events' times -> UTC instants: RFC 3339 timestamps and, with ``tz``, bare dates (the start
    of that day in ``tz``); null where neither.

    The common spelling (``T``, ``Z`` or ``+hh:mm``) is parsed in one pass; other rows (bare
    dates, ``t``/space separators, invalid text) take the general path.
    """
    out = pl.select(
        pl.when(pl.lit(text).str.contains(_TIMESTAMP_COMMON)).then(
            pl.lit(text).str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", time_unit="us", time_zone="UTC", strict=False))
    ).to_series().cast(UTC_TIME)
    todo = out.is_null() & text.is_not_null()
    if todo.any():
        rows = todo.arg_true()
        subset = text.gather(rows)
        general = pl.select(parse_timestamp(pl.lit(subset))).to_series().cast(UTC_TIME)
        if tz:
            days = pl.select(parse_date(pl.lit(subset))).to_series()
            general = general.fill_null(starts_of_days(days, tz).cast(UTC_TIME))
        out = out.scatter(rows, general)
    return out
