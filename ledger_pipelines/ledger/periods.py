"""Closing and reopening accounting periods (months in the reporting time zone).

Invariant I10: nothing takes effect inside a closed period -- no transaction effective in it and
no lifecycle move dated in it (database trigger, SQLSTATE LDG09). So the numbers of a closed
month never change; late events are refused (``period_closed``) or, under the ingestion policy
``next_open_day``, posted on the first open day with their intended date kept in metadata.
Closing and reopening are audited administrative actions (``period.close`` / ``period.reopen``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg

from ledger_pipelines.accounting.calendar import Period, period_bounds
from ledger_pipelines.accounting.errors import PeriodError
from ledger_pipelines.paths import read_sql


def closed_periods(conn: psycopg.Connection) -> list[Period]:
    return [Period(r[0], r[1], r[2], r[3]) for r in conn.execute(read_sql("ledger/closed_periods.sql")).fetchall()]


def close_period(conn: psycopg.Connection, period: str, tz: ZoneInfo, *, actor: str, reason: str | None = None,
                 now: datetime | None = None) -> Period:
    """Close ``period``; refuse one that has not ended yet or is closed already."""
    bounds = period_bounds(period, tz)
    now = now or datetime.now(UTC)
    if bounds.ends_at > now:
        raise PeriodError(
            f"period {period} has not ended yet (it ends {bounds.ends_at.isoformat()}); close it after that."
        )
    with conn.transaction():
        conn.execute("SELECT set_config('subledger.actor', %s, true)", [actor])
        if any(p.period == period for p in closed_periods(conn)):
            raise PeriodError(f"period {period} is already closed; nothing to do.")
        _record(conn, bounds, "close", reason)
    return bounds


def reopen_period(conn: psycopg.Connection, period: str, tz: ZoneInfo, *, actor: str, reason: str | None = None) -> Period:
    """Reopen a closed ``period`` (audited); postings dated in it are accepted again.

    ``conn`` must be the ledger owner's: the database refuses a reopen from the writer role
    (SQLSTATE LDG11, ``ledger.period_closures_guard``), so a writer cannot reopen a month, post
    into it and close it again."""
    period_bounds(period, tz)  # refuses a malformed period before touching the database
    with conn.transaction():
        conn.execute("SELECT set_config('subledger.actor', %s, true)", [actor])
        current = next((p for p in closed_periods(conn) if p.period == period), None)
        if current is None:
            raise PeriodError(f"period {period} is not closed; nothing to reopen.")
        _record(conn, current, "reopen", reason)
    return current


def _record(conn: psycopg.Connection, bounds: Period, action: str, reason: str | None) -> None:
    conn.execute(
        read_sql("ledger/record_period_action.sql"),
        {"period": bounds.period, "action": action, "starts_at": bounds.starts_at, "ends_at": bounds.ends_at,
         "timezone": bounds.timezone, "reason": reason},
    )
