"""Daily balance snapshots per account and per category, computed from the mirror in DuckDB.

For a range of days ``d1..d2`` (one day, or a whole backfill) this is **one** vectorised DuckDB
computation (``sql/warehouse/snapshots/*.sql``): every entry contributes a change on its
effective day and, if its transaction was still pending then, another on the day it was posted
or archived; changes are summed per account/currency/day, the opening balance before ``d1`` is
one aggregate and the days of the range one running sum. Days are in the reporting time zone;
entries effective before ``SUBLEDGER_START_DATE`` count in that first day.

Rows exist for every day an account (category) moved -- an entry became effective or a pending
transaction of it moved -- with the cumulative sums at the end of that day; a day without a row
has the balance of the latest earlier row (interfaces.md). Recomputing days that were computed
before records what changed in ``analytics.restatements`` (:mod:`.restatements`); the account
computation also writes Postgres balance anchors (:mod:`.anchors`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date

import duckdb

from ledger_pipelines.warehouse import anchors, duck, restatements
from ledger_pipelines.warehouse.mirror import MirrorState, read_state
from ledger_pipelines.warehouse.watermark import Watermark

TABLES = {"account": "analytics.account_balance_snapshots", "category": "analytics.category_balance_snapshots"}
NEW_ROWS = {"account": "new_account_rows", "category": "new_category_rows"}


class MirrorNotReady(RuntimeError):
    """Snapshots need the mirror first (or the mirror is in another time zone)."""


@dataclass(frozen=True)
class SnapshotResult:
    """One computation of ``first_day..last_day`` for one scope ('account' or 'category')."""

    scope: str
    run_id: str
    first_day: date | None
    last_day: date | None
    rows: int
    restated: int  # analytics.restatements rows recorded
    full_rebuild: bool  # settings changed: every computed day was recomputed
    watermark: Watermark | None
    anchors: int | None
    seconds: float


def _require_mirror(conn: duckdb.DuckDBPyConnection, tz: str) -> MirrorState:
    state = read_state(conn)
    if state is None:
        raise MirrorNotReady("the warehouse has no mirror yet; materialise warehouse/ledger_mirror first (`subledger run`).")
    if state.timezone != tz:
        raise MirrorNotReady(
            f"the mirror dates entries in {state.timezone}, but SUBLEDGER_TIMEZONE is {tz}; "
            "materialise warehouse/ledger_mirror again (it re-dates the entries), then the snapshots."
        )
    return state


def membership_hash(conn: duckdb.DuckDBPyConnection) -> str:
    """A fingerprint of analytics.account_categories (category rows depend on it)."""
    return str(duck.scalar(
        conn,
        "SELECT coalesce(md5(string_agg(category || chr(31) || account, chr(30) ORDER BY category, account)), '') "
        "FROM analytics.account_categories",
    ))


def computed_range(conn: duckdb.DuckDBPyConnection, scope: str) -> tuple[date | None, date | None]:
    found = duck.rows(conn, "SELECT min(as_of_date), max(as_of_date) FROM warehouse_meta.snapshot_days WHERE scope = $s", {"s": scope})
    return found[0] if found else (None, None)


def _plan_range(conn, scope, d1, d2, tz, start, fingerprint) -> tuple[date, date, bool, bool]:
    """The days to compute: the request, widened to every computed day if settings changed.

    Returns ``(d1, d2, rebuild, restate_all)``: ``rebuild`` (time zone or start date changed:
    the old rows mean something else, so they are replaced without restatement records) or
    ``restate_all`` (category membership changed: every computed day is recomputed and what
    changed is recorded).
    """
    stored = duck.rows(
        conn, "SELECT timezone, start_date, membership_hash FROM warehouse_meta.snapshot_settings WHERE scope = $s",
        {"s": scope},
    )
    first, last = computed_range(conn, scope)
    rebuild = bool(stored) and (stored[0][0] != tz or stored[0][1] != start)
    restate_all = bool(stored) and not rebuild and stored[0][2] != fingerprint
    if (rebuild or restate_all) and first is not None:
        d1, d2 = min(d1, first), max(d2, last)
    return max(d1, start), d2, rebuild, restate_all


def compute(
    conn: duckdb.DuckDBPyConnection,
    scope: str,
    d1: date,
    d2: date,
    *,
    tz: str,
    start: date,
    writer_dsn: str | None = None,
    anchor_every: int = anchors.ANCHOR_EVERY,
) -> SnapshotResult:
    """Compute and store ``scope`` snapshots for ``d1..d2`` (see the module docs).

    ``writer_dsn`` (account scope): also replace the Postgres balance anchors of those days.
    Raises :class:`MirrorNotReady` if the mirror is missing or in another time zone.
    """
    if scope not in TABLES:
        raise ValueError(f"scope must be 'account' or 'category', not {scope!r}")
    started = time.perf_counter()
    run_id = str(uuid.uuid4())
    state = _require_mirror(conn, tz)
    fingerprint = membership_hash(conn) if scope == "category" else ""
    d1, d2, rebuild, _restate_all = _plan_range(conn, scope, d1, d2, tz, start, fingerprint)
    if d2 < d1:
        return SnapshotResult(scope, run_id, None, None, 0, 0, rebuild, state.watermark, None, time.perf_counter() - started)

    params = {"tz": tz, "start": start, "d1": d1, "d2": d2}
    conn.execute("BEGIN TRANSACTION")
    try:
        duck.run_file(conn, "warehouse/snapshots/account_daily.sql", params)
        duck.run_file(conn, f"warehouse/snapshots/{scope}_rows.sql", params)
        restated = 0 if rebuild else restatements.record(conn, scope, d1, d2, start=start, tz=tz, run_id=run_id)
        table = TABLES[scope]
        if rebuild:
            conn.execute(f"DELETE FROM {table}")
            conn.execute("DELETE FROM warehouse_meta.snapshot_days WHERE scope = $s", {"s": scope})
        else:
            conn.execute(f"DELETE FROM {table} WHERE as_of_date BETWEEN $d1 AND $d2", {"d1": d1, "d2": d2})
        conn.execute(f"INSERT INTO {table} SELECT * FROM {NEW_ROWS[scope]}")
        duck.run_file(conn, "warehouse/snapshots/mark_days.sql", {
            "scope": scope, "d1": d1, "d2": d2, "snapshot": state.watermark.text, "run_id": run_id,
            "tz": tz, "start": start, "fingerprint": fingerprint,
        })
        rows = int(duck.scalar(conn, f"SELECT count(*) FROM {NEW_ROWS[scope]}"))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise

    written = None
    if scope == "account" and writer_dsn is not None:
        anchors.compute(conn, tz=tz, start=start, every=anchor_every)
        written = anchors.write(
            conn, writer_dsn, run_id=run_id, watermark=state.watermark, taken_at=state.taken_at,
            first_day=d1, last_day=d2, tz=tz, replace_all=rebuild,
        ).anchors
    conn.execute(f"DROP TABLE IF EXISTS {NEW_ROWS[scope]}")
    return SnapshotResult(scope, run_id, d1, d2, rows, restated, rebuild, state.watermark, written, time.perf_counter() - started)


def compute_accounts(conn, d1: date, d2: date, *, tz: str, start: date, writer_dsn: str | None = None,
                     anchor_every: int = anchors.ANCHOR_EVERY) -> SnapshotResult:
    """Account snapshots for ``d1..d2`` (+ Postgres anchors when ``writer_dsn`` is given)."""
    return compute(conn, "account", d1, d2, tz=tz, start=start, writer_dsn=writer_dsn, anchor_every=anchor_every)


def compute_categories(conn, d1: date, d2: date, *, tz: str, start: date) -> SnapshotResult:
    """Category snapshots (every path prefix and configured group) for ``d1..d2``."""
    return compute(conn, "category", d1, d2, tz=tz, start=start)
