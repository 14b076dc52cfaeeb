"""Mirroring the ledger into DuckDB: incremental, watermarked, restartable, idempotent.

One run:

1. opens one REPEATABLE READ transaction on Postgres and records its snapshot ``W`` (the new
   watermark) -- every read below sees exactly ``W``;
2. reads, as Arrow streams (:mod:`~ledger_pipelines.warehouse.arrow_source`): all accounts,
   categories and group memberships (small; a full refresh), the transactions created *or moved*
   since the previous watermark ``W0`` (``changed_xid`` not visible in ``W0``, found through the
   ``changed_xid`` index from ``xmin(W0)``) and the entries of those created since ``W0``
   (both prefetched on connections that import the snapshot ``W``, in bounded chunks);
3. writes them into the DuckDB work file and the new watermark in **one DuckDB transaction**,
   with what the warehouse computes once for the reports: each entry's and transaction's days in
   the reporting time zone, when a transaction started to count as posted, and the business
   fields of its source event (macro ``transaction_fields``, ``sql/warehouse/macros.sql``; dbt
   only renames them). A change of the reporting time zone recomputes them.

Why it is exact: a ledger row never changes except a pending transaction's single lifecycle move
(which rewrites its ``changed_xid``), and entries are written by the database transaction that
creates their transaction. So "visible in W, not in W0" is exactly what changed in between --
including a transaction that was still running when ``W0`` was taken and committed later (its
xid is in ``W0``'s in-progress list, so it is picked up next run, never skipped).

Why it is restartable and idempotent: the rows and the watermark commit together. A crash before
the commit leaves the previous state and watermark (DuckDB rolls the open transaction back), so
the next run reads the same window again; a run with nothing new changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import psycopg
import pyarrow as pa

from ledger_pipelines.paths import read_sql
from ledger_pipelines.warehouse import duck
from ledger_pipelines.warehouse.arrow_source import SnapshotReader, snapshot_reader
from ledger_pipelines.warehouse.watermark import Watermark

Stage = Callable[[str], None]


@dataclass(frozen=True)
class MirrorState:
    """What the warehouse holds: the ledger as it stood at ``watermark``."""

    watermark: Watermark
    taken_at: datetime
    mirrored_at: datetime
    timezone: str
    runs: int
    ledger_fingerprint: str | None = None  # categories, memberships, account types, account count


@dataclass(frozen=True)
class MirrorResult:
    """Rows written by one run, and how far behind Postgres the mirror is."""

    full: bool
    watermark: Watermark
    previous: Watermark | None
    taken_at: datetime
    accounts: int
    categories: int
    account_categories: int
    transactions: int
    entries: int
    total_transactions: int
    total_entries: int
    seconds: float
    lag_seconds: float  # age of the mirrored state when the run finished
    behind_transactions: int  # transactions created/moved in Postgres after the snapshot
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.transactions + self.entries

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def read_state(conn: duckdb.DuckDBPyConnection) -> MirrorState | None:
    """The mirror's watermark, or None before the first run."""
    found = duck.rows(
        conn, "SELECT snapshot, taken_at, mirrored_at, timezone, runs, ledger_fingerprint FROM warehouse_meta.mirror_state"
    )
    if not found:
        return None
    row = found[0]
    return MirrorState(Watermark.parse(row[0]), row[1], row[2], row[3], row[4], row[5])


def _window(previous: Watermark | None) -> tuple[str, str]:
    """SQL predicates: transactions changed since ``previous``; entries of those created since."""
    if previous is None:
        return "true", "true"
    snap = f"'{previous.text}'::pg_snapshot"
    changed = f"t.changed_xid >= '{previous.xmin}'::xid8 AND NOT pg_visible_in_snapshot(t.changed_xid, {snap})"
    created = (  # with effective_at: a probe per transaction reads the partition of its month only
        "(e.transaction_id, e.effective_at) IN (SELECT t.transaction_id, t.effective_at FROM ledger.transactions t "
        f"WHERE {changed} AND NOT pg_visible_in_snapshot(t.created_xid, {snap}))"
    )
    return changed, created


def _count(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(duck.scalar(conn, f"SELECT count(*) FROM {table}"))


def mirror(
    duck_conn: duckdb.DuckDBPyConnection,
    dsn: str,
    tz: str,
    *,
    on_stage: Stage | None = None,
) -> MirrorResult:
    """Bring the DuckDB mirror up to the ledger's current snapshot (see the module docs).

    ``dsn`` is any role that can read the ledger (the reader role is enough); ``tz`` the
    reporting time zone of the days it stores. ``on_stage`` is called with the
    name of each stage as it completes (tests use it to crash the process mid-run).
    """
    started = time.perf_counter()
    stages: dict[str, float] = {}
    notify = on_stage or (lambda _stage: None)

    def mark(stage: str) -> None:
        stages[stage] = round(time.perf_counter() - started, 4)
        notify(stage)

    state = read_state(duck_conn)
    previous = state.watermark if state else None
    changed, created = _window(previous)
    with snapshot_reader(dsn) as source, duck.setting(duck_conn, "preserve_insertion_order", False):
        duck_conn.execute("BEGIN TRANSACTION")
        try:
            counts = _copy(duck_conn, source, tz, state, changed, created, mark)
            fingerprint = source.table(read_sql("warehouse/mirror/pg_fingerprint.sql")).column(0)[0].as_py()
            duck.run_file(duck_conn, "warehouse/mirror/save_state.sql", {
                "snapshot": source.watermark.text, "taken_at": source.taken_at, "tz": tz,
                "runs": (state.runs if state else 0) + 1, "fingerprint": fingerprint,
            })
            mark("state_saved")
            duck_conn.execute("COMMIT")
        except BaseException:
            duck_conn.execute("ROLLBACK")
            raise
        watermark, taken_at = source.watermark, source.taken_at
    mark("committed")
    behind = _behind(dsn, watermark)
    seconds = time.perf_counter() - started
    return MirrorResult(
        full=previous is None,
        watermark=watermark,
        previous=previous,
        taken_at=taken_at,
        seconds=seconds,
        lag_seconds=(datetime.now(UTC) - taken_at).total_seconds(),
        behind_transactions=behind,
        total_transactions=_count(duck_conn, "analytics.transactions"),
        total_entries=_count(duck_conn, "analytics.entries"),
        stages=stages,
        **counts,
    )


def _copy(duck_conn, source: SnapshotReader, tz, state, changed, created, mark) -> dict[str, int]:
    """Every table of the mirror, in the caller's DuckDB transaction.

    The transactions and entries are prefetched from the start (two more connections at the same
    snapshot), so Postgres produces them while DuckDB loads the accounts and categories, and then
    load in turns, chunk by chunk: while DuckDB inserts a chunk of one, both reads go on. Chunks
    are Arrow tables that DuckDB inserts with all its threads (the caller turns
    ``preserve_insertion_order`` off: the tables have no order).
    """
    query = "warehouse/mirror/pg_transactions_full.sql" if state is None else "warehouse/mirror/pg_transactions.sql"
    incoming = {
        "transactions": source.prefetch(read_sql(query).format(window=changed)),
        "entries": source.prefetch(read_sql("warehouse/mirror/pg_entries.sql").format(created=created)),
    }

    accounts = source.stream(read_sql("warehouse/mirror/pg_accounts.sql"))
    duck_conn.register("incoming_accounts", accounts)
    duck.run_file(duck_conn, "warehouse/mirror/load_accounts.sql")
    duck_conn.unregister("incoming_accounts")
    mark("accounts")

    duck_conn.register("staged_categories", source.table(read_sql("warehouse/mirror/pg_categories.sql")))
    duck_conn.register("staged_members", source.table(read_sql("warehouse/mirror/pg_category_members.sql")))
    duck.run_file(duck_conn, "warehouse/mirror/load_categories.sql")
    duck_conn.unregister("staged_categories")
    duck_conn.unregister("staged_members")
    mark("categories")

    if state is not None:
        redate = state.timezone != tz
        if redate:
            duck.run_file(duck_conn, "warehouse/mirror/redate_entries.sql", {"tz": tz})
        duck.run_file(duck_conn, "warehouse/mirror/derive_transactions.sql", {"tz": tz, "all": redate})
        if redate:
            mark("redated")
    transactions_before = _count(duck_conn, "analytics.transactions")
    entries_before = _count(duck_conn, "analytics.entries")
    upserted = 0
    for table, chunk in _in_turns(incoming):
        if table == "entries":
            duck_conn.register("incoming_entries", chunk)
            duck.run_file(duck_conn, "warehouse/mirror/insert_entries.sql", {"tz": tz})
            duck_conn.unregister("incoming_entries")
            continue
        duck_conn.register("incoming_transactions", chunk)
        if state is None:
            duck.run_file(duck_conn, "warehouse/mirror/insert_transactions.sql", {"tz": tz})
        else:  # a transaction is in one chunk only, so chunk by chunk equals all at once
            duck.run_file(duck_conn, "warehouse/mirror/upsert_transactions.sql", {"tz": tz})
            upserted += _count(duck_conn, "staged_transactions")
            duck_conn.execute("DROP TABLE staged_transactions")
        duck_conn.unregister("incoming_transactions")
    transactions = _count(duck_conn, "analytics.transactions") - transactions_before if state is None else upserted
    mark("transactions")
    entries = _count(duck_conn, "analytics.entries") - entries_before
    mark("entries")
    return {
        "accounts": _count(duck_conn, "analytics.accounts"),
        "categories": _count(duck_conn, "analytics.categories"),
        "account_categories": _count(duck_conn, "analytics.account_categories"),
        "transactions": transactions,
        "entries": entries,
    }


def _in_turns(reads: dict[str, Iterable[pa.Table]]) -> Iterator[tuple[str, pa.Table]]:
    """``(name, chunk)`` from each read in turn until every read is exhausted."""
    live = {name: iter(read) for name, read in reads.items()}
    while live:
        for name, chunks in list(live.items()):
            chunk = next(chunks, None)
            if chunk is None:
                del live[name]
            else:
                yield name, chunk


def _behind(dsn: str, watermark: Watermark) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return int(conn.execute(read_sql("warehouse/mirror/pg_behind.sql"), {"snapshot": watermark.text}).fetchone()[0])
