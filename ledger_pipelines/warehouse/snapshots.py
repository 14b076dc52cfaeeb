"""Daily balance snapshots per account and per category, kept current incrementally.

One call of :func:`refresh` brings a scope's table up to the mirror and to a day (today, by
default): it reads what the table was built from (:mod:`.freshness`), finds the first day that
must be (re)written -- the day after the last one covered, or the first day a change made in the
ledger since the table's watermark moves a balance (:func:`.restatements.first_changed_day`), or
the start date when the settings or the category membership changed -- and recomputes every day
from there on in **one** vectorised DuckDB computation (``sql/warehouse/snapshots/*.sql``). Its
cost follows the data: the rows written are those of accounts that moved on those days, whatever
the length of the calendar behind them, and a call with nothing new writes nothing.

The computation: every entry contributes a change on its effective day and, if its transaction
was still pending then, another on the day it was posted or archived; changes are summed per
account/currency/day, the opening balance before the first day is one aggregate and the days one
running sum. Days are in the reporting time zone; entries effective before
``SUBLEDGER_START_DATE`` count in that first day. Rows exist for every day an account (category)
moved; a day without a row has the balance of the latest earlier row (interfaces.md).

Recomputing days that were reported before records what changed in ``analytics.restatements``
(:mod:`.restatements`); the account computation also writes Postgres balance anchors
(:mod:`.anchors`). Rows, restatements and the build record commit in one DuckDB transaction.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from ledger_pipelines.warehouse import anchors, duck, freshness, restatements
from ledger_pipelines.warehouse.mirror import MirrorState, read_state
from ledger_pipelines.warehouse.watermark import Watermark

TABLES = {"account": "analytics.account_balance_snapshots", "category": "analytics.category_balance_snapshots"}
NEW_ROWS = {"account": "new_account_rows", "category": "new_category_rows"}
PRODUCTS = {"account": freshness.ACCOUNT_SNAPSHOTS, "category": freshness.CATEGORY_SNAPSHOTS}


class MirrorNotReady(RuntimeError):
    """Snapshots need the mirror first (or the mirror is in another time zone)."""


@dataclass(frozen=True)
class SnapshotResult:
    """One refresh of a scope ('account' or 'category')."""

    scope: str
    run_id: str
    first_day: date | None  # the first day (re)written; None: nothing was written
    last_day: date | None  # the last day the table now covers
    rows: int  # rows written
    restated: int  # analytics.restatements rows recorded
    restated_days: int  # distinct days with a restated row
    full_rebuild: bool  # settings changed (or no build record): every day was rewritten, nothing restated
    reason: str  # why these days were written
    watermark: Watermark | None
    anchors: int | None
    seconds: float


def require_mirror(conn: duckdb.DuckDBPyConnection, tz: str) -> MirrorState:
    state = read_state(conn)
    if state is None:
        raise MirrorNotReady("the warehouse has no mirror yet; materialise warehouse/ledger_mirror first (`subledger run`).")
    if state.timezone != tz:
        raise MirrorNotReady(
            f"the mirror dates entries in {state.timezone}, but SUBLEDGER_TIMEZONE is {tz}; "
            "materialise warehouse/ledger_mirror again (it re-dates the entries), then the snapshots."
        )
    return state


@dataclass(frozen=True)
class _Plan:
    """The days to write (``d1..d2``) and why. ``previous`` is the build they replace; restatements
    are recorded for ``d1..previous.last_day`` only, and none when ``rebuild``."""

    d1: date
    d2: date
    previous: freshness.Build | None
    rebuild: bool
    reason: str


def _plan(conn, scope, state: MirrorState, *, tz, start, through, rebuild_from, fingerprint) -> _Plan:
    build = freshness.read_build(conn, PRODUCTS[scope])
    if build is None or build.last_day is None:
        return _Plan(start, through, None, True, "first build")
    if build.timezone != tz or build.start_date != start:
        return _Plan(start, max(through, build.last_day), None, True,
                     f"settings changed (time zone {build.timezone} -> {tz}, start {build.start_date} -> {start})")
    last = build.last_day
    d1, reasons = last + timedelta(days=1), []
    if d1 <= through:
        reasons.append(f"new days {d1}..{through}")
    if build.watermark != state.watermark.text:
        changed = restatements.first_changed_day(conn, Watermark.parse(build.watermark), start=start)
        if changed is not None and changed < d1:
            d1 = changed
            reasons.append(f"ledger changes from {changed}")
    if scope == "category" and build.fingerprint != fingerprint:
        d1 = start
        reasons.append("category membership changed")
    if rebuild_from is not None and rebuild_from < d1:
        d1 = rebuild_from
        reasons.append(f"rebuild requested from {rebuild_from}")
    return _Plan(max(d1, start), max(through, last), build, False, "; ".join(reasons) or "up to date")


def refresh(
    conn: duckdb.DuckDBPyConnection,
    scope: str,
    *,
    tz: str,
    start: date,
    through: date,
    rebuild_from: date | None = None,
    writer_dsn: str | None = None,
    anchor_every: int = anchors.ANCHOR_EVERY,
) -> SnapshotResult:
    """Bring ``scope``'s snapshots up to the mirror and to day ``through`` (see the module docs).

    ``rebuild_from`` forces every day from it on to be recomputed (a repair). ``writer_dsn``
    (account scope): also replace the Postgres balance anchors of the days written. Raises
    :class:`MirrorNotReady` if the mirror is missing or in another time zone.
    """
    if scope not in TABLES:
        raise ValueError(f"scope must be 'account' or 'category', not {scope!r}")
    started = time.perf_counter()
    run_id = str(uuid.uuid4())
    state = require_mirror(conn, tz)
    fingerprint = freshness.membership_fingerprint(conn) if scope == "category" else ""
    plan = _plan(conn, scope, state, tz=tz, start=start, through=through, rebuild_from=rebuild_from, fingerprint=fingerprint)
    d1, d2, rebuild, reason = plan.d1, plan.d2, plan.rebuild, plan.reason
    table = TABLES[scope]
    build = {"watermark": state.watermark.text, "last_day": d2, "timezone": tz, "start_date": start,
             "fingerprint": fingerprint, "run_id": run_id}
    if d1 > d2:  # nothing to write; the table now reflects the current mirror
        conn.execute("BEGIN TRANSACTION")
        freshness.record_build(conn, PRODUCTS[scope], first_written=None, **build)
        conn.execute("COMMIT")
        return SnapshotResult(scope, run_id, None, d2, 0, 0, 0, False, reason, state.watermark, None,
                              time.perf_counter() - started)

    params = {"tz": tz, "start": start, "d1": d1, "d2": d2}
    conn.execute("BEGIN TRANSACTION")
    try:
        duck.run_file(conn, "warehouse/snapshots/account_daily.sql", params)
        duck.run_file(conn, f"warehouse/snapshots/{scope}_rows.sql", params)
        restated = restated_days = 0
        if plan.previous is not None:
            restated = restatements.record(conn, scope, d1, plan.previous.last_day,
                                           since=Watermark.parse(plan.previous.watermark), start=start, run_id=run_id)
            if restated:
                restated_days = int(duck.scalar(
                    conn, "SELECT count(DISTINCT as_of_date) FROM analytics.restatements WHERE run_id = $r", {"r": run_id}))
        if rebuild:
            conn.execute(f"DELETE FROM {table}")
        else:
            conn.execute(f"DELETE FROM {table} WHERE as_of_date >= $d1", {"d1": d1})
        conn.execute(f"INSERT INTO {table} SELECT * FROM {NEW_ROWS[scope]}")
        freshness.record_build(conn, PRODUCTS[scope], first_written=d1, **build)
        rows = int(duck.scalar(conn, f"SELECT count(*) FROM {NEW_ROWS[scope]}"))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise

    written = None
    if scope == "account" and writer_dsn is not None:
        anchors.compute(conn, tz=tz, start=start, every=anchor_every)
        written = anchors.write(
            conn, writer_dsn, run_id=run_id, watermark=state.watermark, first_day=d1, last_day=d2, tz=tz,
            replace_all=rebuild,
        )
    conn.execute(f"DROP TABLE IF EXISTS {NEW_ROWS[scope]}")
    conn.execute("DROP TABLE IF EXISTS account_daily")
    return SnapshotResult(scope, run_id, d1, d2, rows, restated, restated_days, rebuild, reason, state.watermark,
                          written, time.perf_counter() - started)


def refresh_accounts(conn, *, tz: str, start: date, through: date, rebuild_from: date | None = None,
                     writer_dsn: str | None = None, anchor_every: int = anchors.ANCHOR_EVERY) -> SnapshotResult:
    """Account snapshots (+ Postgres anchors when ``writer_dsn`` is given)."""
    return refresh(conn, "account", tz=tz, start=start, through=through, rebuild_from=rebuild_from,
                   writer_dsn=writer_dsn, anchor_every=anchor_every)


def refresh_categories(conn, *, tz: str, start: date, through: date, rebuild_from: date | None = None) -> SnapshotResult:
    """Category snapshots (every path prefix and configured group)."""
    return refresh(conn, "category", tz=tz, start=start, through=through, rebuild_from=rebuild_from)
