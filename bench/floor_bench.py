"""Write-floor benchmark (issue 17): the old entries layout and the new one side by side, in one run.

Run: ``nice .venv/bin/python -m bench.floor_bench`` (``--help`` for sizes; ``--quick`` for a small
look). One embedded Postgres at default durability (fsync, synchronous_commit, full_page_writes
on). A "month" is N transactions x 2 legs over A accounts, all dated in one calendar month. Every
figure is the binary COPY (``copy_binary``, the format ``apply_plan`` uses) of a month's
transaction and entry rows, in one database transaction timed to COMMIT, after a CHECKPOINT:

* ``old``: entries in one flat table with today's indexes (primary key (transaction_id, entry_no),
  (account_id, currency, effective_at)); ``new``: entries range-partitioned by month with the
  ledger's indexes (``sql/schema/ledger.sql``). Transactions are the same flat indexed table in
  both. No trigger or constraint: the *indexed-COPY floor* of each layout;
* rows in today's order (entries by transaction id) or sorted by (account_id, currency,
  effective_at) as ``apply_plan`` now sends them;
* into empty tables, and -- the case the issue is about -- a new month into tables that already
  hold ``--history-months`` months (2.4M entries by default), with the WAL written and its
  full-page images (``pg_stat_wal``);
* ``guarded``: ``apply_plan`` of the same month into the ledger itself, which holds the same
  history (loaded through ``apply_plan``, untimed), every trigger, constraint and the commit check
  on; compared with the new layout's indexed COPY with history, the floor of that very layout;
* ``staged``: the same month COPYed into unlogged, index-free staging tables and moved into the new
  layout by ``INSERT ... SELECT``, no check: the least the other way of guarding bulk writes (a
  SECURITY DEFINER function that checks staged rows and inserts them, no trigger) would cost.

The measured months repeat ``--repeat`` times (each into the tables as the previous left them, so
every repeat writes into 2M+ entries of history); best of the repeats. Prints the tables and writes
JSON to ``bench/results/``.

``--server-memory MB`` holds the server to MB of memory, page cache included (a cgroup,
``bench.harness.server_memory_limit``): on a machine whose memory holds the whole history, that
is how the run shows a ledger whose history is larger than memory, the case partitions are for.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TypeVar

import polars as pl
import psycopg

from bench.harness import (
    cgroup_memory_stats,
    describe_server,
    server_facts,
    server_memory_limit,
    temporary_cluster,
    write_results,
)
from bench.ledger_bench import ACCOUNT_TYPES, make_plan, plain_rows, warm_plan
from ledger_pipelines.ledger.bulk import apply_plan
from ledger_pipelines.ledger.bulk.write import ENTRY_COLUMN_TYPES, TRANSACTION_COLUMN_TYPES
from ledger_pipelines.ledger.plan import PostingPlan
from ledger_pipelines.postgres.copy import copy_binary

QUICK_ARGV = ["--quick"]
QUICK = {"transactions": 20_000, "accounts": 2_000, "history_months": 2, "repeat": 1}
FIRST_MONTH = datetime(2024, 1, 1, tzinfo=UTC)
T = TypeVar("T")

# Both layouts' tables (schema floor, recreated empty). Transactions: the ledger's indexes, flat.
LAYOUT_DDL = """
DROP SCHEMA IF EXISTS floor CASCADE;
CREATE SCHEMA floor;
CREATE TABLE floor.old_entries (LIKE ledger.entries INCLUDING DEFAULTS);
ALTER TABLE floor.old_entries ADD PRIMARY KEY (transaction_id, entry_no);
CREATE INDEX ON floor.old_entries (account_id, currency, effective_at);
CREATE TABLE floor.new_entries (LIKE ledger.entries INCLUDING DEFAULTS) PARTITION BY RANGE (effective_at);
ALTER TABLE floor.new_entries ADD PRIMARY KEY (transaction_id, entry_no, effective_at);
CREATE INDEX ON floor.new_entries (account_id, currency, effective_at);
-- The staged design's floor: rows COPYed into unlogged, index-free staging tables, then moved
-- into the new layout by INSERT ... SELECT (what a SECURITY DEFINER function that checked staged
-- rows itself would do, with no trigger on the ledger's tables), here with no check at all.
CREATE TABLE floor.staged_entries (LIKE ledger.entries INCLUDING DEFAULTS) PARTITION BY RANGE (effective_at);
ALTER TABLE floor.staged_entries ADD PRIMARY KEY (transaction_id, entry_no, effective_at);
CREATE INDEX ON floor.staged_entries (account_id, currency, effective_at);
CREATE UNLOGGED TABLE floor.stage_transactions (LIKE ledger.transactions INCLUDING DEFAULTS);
CREATE UNLOGGED TABLE floor.stage_entries (LIKE ledger.entries INCLUDING DEFAULTS);
"""
TRANSACTIONS_DDL = """
CREATE TABLE floor.{name} (LIKE ledger.transactions INCLUDING DEFAULTS);
CREATE UNIQUE INDEX ON floor.{name} (transaction_id);
CREATE UNIQUE INDEX ON floor.{name} (idempotency_key);
CREATE UNIQUE INDEX ON floor.{name} (reverses_transaction_id) WHERE reverses_transaction_id IS NOT NULL;
CREATE UNIQUE INDEX ON floor.{name} (transition_key) WHERE transition_key IS NOT NULL;
CREATE INDEX ON floor.{name} (reference) WHERE reference IS NOT NULL;
CREATE INDEX ON floor.{name} (changed_xid);
"""
PARTITION_DDL = "CREATE TABLE floor.{layout}_entries_{n} PARTITION OF floor.{layout}_entries FOR VALUES FROM ('{start}') TO ('{end}')"


def month_start(n: int) -> datetime:
    return datetime(FIRST_MONTH.year + (FIRST_MONTH.month - 1 + n) // 12, (FIRST_MONTH.month - 1 + n) % 12 + 1, 1, tzinfo=UTC)


def month_plan(n: int, transactions: int, accounts: int) -> PostingPlan:
    """Month ``n`` (0 = January 2024): ``transactions`` two-leg postings, one second apart from its first day."""
    plan = make_plan(f"m{n}", transactions, accounts, seed=n)
    plan.postings = plan.postings.with_columns(pl.col("effective_at") + (month_start(n) - FIRST_MONTH))
    return plan


def ordered(entries: pl.DataFrame, order: str) -> pl.DataFrame:
    """Entries in today's order (by transaction id, as apply_plan sent them) or sorted for the account index."""
    return entries.sort("transaction_id", "entry_no") if order == "today" else entries.sort("account_id", "currency", "effective_at")


def reset(dsn: str, months: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(LAYOUT_DDL)
        for name in ("old_transactions", "new_transactions", "staged_transactions"):
            conn.execute(TRANSACTIONS_DDL.format(name=name))
        for layout in ("new", "staged"):
            for n in range(months):
                conn.execute(PARTITION_DDL.format(layout=layout, n=n, start=month_start(n).isoformat(),
                                                  end=month_start(n + 1).isoformat()))


def settle(superuser_dsn: str) -> None:
    """Every measurement starts from a clean checkpoint and fresh statistics."""
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def wal(superuser_dsn: str) -> tuple[int, int]:
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        return tuple(int(v) for v in conn.execute("SELECT wal_bytes, wal_fpi FROM pg_stat_wal").fetchone())


def timed(dsn: str, superuser_dsn: str, write: Callable[[psycopg.Connection], T], *, settle_first: bool = True) -> tuple[dict, T]:
    """``write`` in one database transaction on ``dsn``, timed to COMMIT, with the WAL and full-page
    images it wrote; after a settle (VACUUM ANALYZE, CHECKPOINT) unless ``settle_first`` is off."""
    if settle_first:
        settle(superuser_dsn)
    bytes0, fpi0 = wal(superuser_dsn)
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        with conn.transaction():
            result = write(conn)
        seconds = time.perf_counter() - start
    bytes1, fpi1 = wal(superuser_dsn)
    return {"seconds": seconds, "wal_mb": (bytes1 - bytes0) / 2**20, "fpi": fpi1 - fpi0}, result


def timed_copy(dsn: str, superuser_dsn: str, layout: str, tx: pl.DataFrame, entries: pl.DataFrame) -> dict:
    """One COPY of a month's rows into a layout's tables."""
    def write(conn: psycopg.Connection) -> None:
        copy_binary(conn, f"floor.{layout}_transactions", tx, TRANSACTION_COLUMN_TYPES)
        copy_binary(conn, f"floor.{layout}_entries", entries, ENTRY_COLUMN_TYPES)

    return {**timed(dsn, superuser_dsn, write)[0], "entries": entries.height}


def timed_staged(dsn: str, superuser_dsn: str, tx: pl.DataFrame, entries: pl.DataFrame) -> dict:
    """The staged design's floor for a month: COPY into the unlogged staging tables, then INSERT ...
    SELECT into the new layout (no check)."""
    def write(conn: psycopg.Connection) -> None:
        conn.execute("TRUNCATE floor.stage_transactions, floor.stage_entries")
        copy_binary(conn, "floor.stage_transactions", tx, TRANSACTION_COLUMN_TYPES)
        copy_binary(conn, "floor.stage_entries", entries, ENTRY_COLUMN_TYPES)
        conn.execute("INSERT INTO floor.staged_transactions SELECT * FROM floor.stage_transactions")
        conn.execute("INSERT INTO floor.staged_entries SELECT * FROM floor.stage_entries")

    return {**timed(dsn, superuser_dsn, write)[0], "entries": entries.height}


def timed_guarded(writer_dsn: str, superuser_dsn: str, plan: PostingPlan, *, settle_first: bool = True) -> dict:
    """``apply_plan`` of a month into the ledger, every guard on."""
    figures, result = timed(writer_dsn, superuser_dsn, lambda conn: apply_plan(
        conn, plan, batch_id=str(uuid.uuid4()), account_types=ACCOUNT_TYPES), settle_first=settle_first)
    counts = result.counts()
    assert counts["posted"] == plan.postings.height and counts["quarantined"] == 0, counts
    return {**figures, "entries": result.entries_created, "stages": {k: round(v, 3) for k, v in result.timings.items()}}


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


def run(dsns, superuser: str, transactions: int, accounts: int, history_months: int, repeat: int) -> dict:
    months = history_months + repeat
    plans = [month_plan(n, transactions, accounts) for n in range(months)]
    rows = [plain_rows(p) for p in plans]

    timed_guarded(dsns.writer_dsn, superuser, warm_plan(accounts), settle_first=False)

    out: dict = {"transactions": transactions, "entries_per_month": 2 * transactions, "accounts": accounts,
                 "history_months": history_months, "repeat": repeat}

    # 1. A month into empty tables: today's layout and order, sorted, and the new layout sorted.
    empty: dict[str, list] = {"old_today": [], "old_sorted": [], "new_sorted": []}
    for r in range(repeat):
        tx, entries = rows[history_months + r]
        for kind in empty:
            layout, order = kind.split("_")
            reset(dsns.dsn, months)
            empty[kind].append(timed_copy(dsns.dsn, superuser, layout, tx, ordered(entries, order)))
    out["empty"] = {k: best(v) for k, v in empty.items()}

    # 2. History: both layouts (and the ledger) get the same months first, then the measured months.
    reset(dsns.dsn, months)
    history_seconds = {"old": 0.0, "new": 0.0, "staged": 0.0, "ledger": 0.0}
    for n in range(history_months):
        tx, entries = rows[n]
        history_seconds["old"] += timed_copy(dsns.dsn, superuser, "old", tx, ordered(entries, "today"))["seconds"]
        history_seconds["new"] += timed_copy(dsns.dsn, superuser, "new", tx, ordered(entries, "sorted"))["seconds"]
        history_seconds["staged"] += timed_staged(dsns.dsn, superuser, tx, ordered(entries, "sorted"))["seconds"]
        history_seconds["ledger"] += timed_guarded(dsns.writer_dsn, superuser, plans[n], settle_first=False)["seconds"]
    out["history_load_seconds"] = history_seconds
    with psycopg.connect(dsns.dsn) as conn:
        out["history_entries"] = conn.execute("SELECT count(*) FROM floor.new_entries").fetchone()[0]
        ledger_history = conn.execute("SELECT count(*) FROM ledger.entries").fetchone()[0]
        out["database_mb"] = conn.execute("SELECT pg_database_size(current_database()) / 1048576").fetchone()[0]
    history: dict[str, list] = {"old_today": [], "new_sorted": [], "staged": [], "guarded": []}
    for r in range(repeat):
        n = history_months + r
        tx, entries = rows[n]
        history["old_today"].append(timed_copy(dsns.dsn, superuser, "old", tx, ordered(entries, "today")))
        history["new_sorted"].append(timed_copy(dsns.dsn, superuser, "new", tx, ordered(entries, "sorted")))
        history["staged"].append(timed_staged(dsns.dsn, superuser, tx, ordered(entries, "sorted")))
        history["guarded"].append(timed_guarded(dsns.writer_dsn, superuser, plans[n]))
    out["ledger_history_entries"] = ledger_history
    out["history"] = {k: best(v) for k, v in history.items()}
    out["all_runs"] = {"empty": empty, "history": history}
    return out


def rate(r: dict) -> float:
    return r["entries"] / r["seconds"]


def print_report(out: dict) -> None:
    e, h = out["empty"], out["history"]
    print(f"\nA month = {out['transactions']:,} transactions x 2 legs = {out['entries_per_month']:,} entries over "
          f"{out['accounts']:,} accounts; binary COPY to COMMIT; best of {out['repeat']}")
    print("\n1. Indexed-COPY floor, a month into empty tables")
    print(f"{'layout, row order':<58} {'seconds':>8} {'entries/s':>11} {'vs today':>9}")
    labels = {"old_today": "old: flat, rows by transaction id (today)",
              "old_sorted": "old: flat, rows sorted by (account, currency, time)",
              "new_sorted": "new: monthly partitions, rows sorted"}
    for kind, label in labels.items():
        print(f"{label:<58} {e[kind]['seconds']:>8.2f} {rate(e[kind]):>11,.0f} {rate(e[kind]) / rate(e['old_today']):>9.2f}")
    print(f"\n2. A new month into tables already holding {out['history_entries']:,} entries "
          f"({out['history_months']} months; the ledger: {out['ledger_history_entries']:,}; the database "
          f"{out['database_mb']:,} MB)")
    if out.get("server_memory"):
        m = out["server_memory"]
        print(f"   server held to {m['limit_mb']:,} MB, page cache included: at the end {m['cache_mb']:,} MB cache + "
              f"{m['rss_mb']:,} MB anonymous, the limit reached {m['limit_hits']:,} times")
    print(f"{'path':<58} {'seconds':>8} {'entries/s':>11} {'vs today':>9} {'vs new floor':>13} {'WAL MB':>8} {'FPI':>7}")
    labels = {"old_today": "indexed COPY, old layout, today's order (today's floor)",
              "new_sorted": "indexed COPY, new layout, sorted (the new floor)",
              "staged": "staging COPY + INSERT ... SELECT, new layout, no check",
              "guarded": "apply_plan into the ledger, every guard on (new layout)"}
    for kind, label in labels.items():
        r = h[kind]
        print(f"{label:<58} {r['seconds']:>8.2f} {rate(r):>11,.0f} {rate(r) / rate(h['old_today']):>9.2f} "
              f"{rate(r) / rate(h['new_sorted']):>13.2f} {r['wal_mb']:>8.0f} {r['fpi']:>7,}")
    print("\nTargets: new floor >= 1.3x today's (row 2 of table 2, 'vs today'); guarded >= 0.85 of the new floor "
          "(last row, 'vs new floor').\n"
          "The staged row is the floor of the other design (a definer function checks staged rows and inserts them, no "
          "trigger): the target is out of its reach too when that row, before any check, is below 0.85.")
    stages = h["guarded"]["stages"]
    print("apply_plan stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=200_000, help="transactions per month (2 entries each)")
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--history-months", type=int, default=6, help="months already in the tables (6 x 400k = 2.4M entries)")
    parser.add_argument("--repeat", type=int, default=2, help="measured months (best of)")
    parser.add_argument("--quick", action="store_true", help=f"a small run {QUICK}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cluster (prints where)")
    parser.add_argument("--server-memory", type=int, metavar="MB",
                        help="hold the server to MB of memory, page cache included (a history larger than memory; needs root)")
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)

    with temporary_cluster("subledger-floor-bench-", keep=args.keep) as bench:
        dsns = bench.start()
        superuser = bench.superuser_dsn()
        server = server_facts(superuser)
        print(describe_server(server))
        with ExitStack() as stack:
            group = None
            if args.server_memory:
                group = stack.enter_context(server_memory_limit(bench.cluster.data_dir, args.server_memory))
            out = run(dsns, superuser, args.transactions, args.accounts, args.history_months, args.repeat)
            if group is not None:
                out["server_memory"] = {"limit_mb": args.server_memory, **cgroup_memory_stats(group)}
        print_report(out)
        write_results("floor", {"server": server, "cpus": os.cpu_count(), "args": vars(args), "results": out})
    return 0


if __name__ == "__main__":
    sys.exit(main())
