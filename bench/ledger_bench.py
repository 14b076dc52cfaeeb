"""Ledger benchmark: guarded bulk posting vs plain COPY, and single-transaction posting under concurrency.

Run: ``.venv/bin/python -m bench.ledger_bench`` (``--help`` for sizes). It starts its own embedded
Postgres under a temporary SUBLEDGER_HOME with the default durability settings (fsync and
synchronous_commit on), prints a table, writes the numbers as JSON to ``bench/results/`` and
removes the cluster.

Bulk: the same N transactions x 2 legs over A accounts are written three ways, each in one
database transaction timed to its COMMIT:

* ``guarded``  -- ``apply_plan`` into the ledger: idempotency lookups, account creation checks,
  balance locking, guard evaluation, COPY into the ledger tables with every trigger, constraint,
  index and the deferred double-entry check at commit;
* ``plain``    -- COPY of the same transaction and entry rows into tables with no index, no
  constraint, no trigger (a), in the binary format ``apply_plan`` uses; ``plain_csv`` is the
  same as a CSV COPY, for reference (what the text parsing costs);
* ``indexed``  -- binary COPY into tables with the ledger's indexes but no triggers or
  constraints (b).

Rates are entries per second (the transaction rows are copied too, in all three).

Single: ``Ledger.post`` of two-leg transactions from 1, 4 and 8 writer processes (each its own
connection) for a fixed time, on spread accounts (random among A) and on one hot account that
every transaction debits.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import psycopg

from bench.harness import PLAIN_DDL, add_month_partitions, describe_server, server_facts, temporary_cluster, write_results
from ledger_pipelines.ledger.bulk import apply_plan
from ledger_pipelines.ledger.bulk.write import ENTRY_COLUMN_TYPES, ENTRY_COLUMNS, TRANSACTION_COLUMN_TYPES, TRANSACTION_COLUMNS
from ledger_pipelines.ledger.chain import seal
from ledger_pipelines.ledger.ids import account_id_column, uuid7_column
from ledger_pipelines.ledger.plan import LEGS_SCHEMA, POSTINGS_SCHEMA, PostingPlan
from ledger_pipelines.postgres.copy import copy_binary, copy_frame

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ACCOUNT_TYPES = {"assets": "debit", "expenses": "debit", "liabilities": "credit", "revenue": "credit", "equity": "credit"}


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def account_codes(accounts: int) -> tuple[list[str], list[str]]:
    half = accounts // 2
    return [f"assets:customers:c{i}" for i in range(half)], [f"revenue:plans:p{i}" for i in range(accounts - half)]


def make_plan(prefix: str, transactions: int, accounts: int, seed: int) -> PostingPlan:
    """``transactions`` posted two-leg transactions over ``accounts`` accounts, as Polars frames."""
    rng = np.random.default_rng(seed)
    debit_codes, credit_codes = account_codes(accounts)
    seq = np.arange(transactions, dtype=np.int64)
    keys = pl.select(pl.format(f"{prefix}-{{}}", pl.int_range(transactions, dtype=pl.Int64)).alias("k"))["k"]
    postings = pl.DataFrame({
        "seq": seq,
        "idempotency_key": keys,
        "event_id": keys,
        "event_type": pl.repeat("journal.posted", transactions, eager=True),
        "status": pl.repeat("posted", transactions, eager=True),
        "effective_at": pl.Series([T0], dtype=pl.Datetime("us", "UTC")).extend_constant(T0, transactions - 1)
        + pl.Series(seq * 1_000_000).cast(pl.Duration("us")),
        "reference": pl.repeat(None, transactions, dtype=pl.Utf8, eager=True),
        "description": pl.repeat(None, transactions, dtype=pl.Utf8, eager=True),
        "metadata": pl.repeat("{}", transactions, eager=True),
        "source": pl.repeat(None, transactions, dtype=pl.Utf8, eager=True),
        "content_hash": keys,
        "phase": pl.repeat(0, transactions, dtype=pl.Int8, eager=True),
        "correction_of": pl.repeat(None, transactions, dtype=pl.Utf8, eager=True),
    }, schema=POSTINGS_SCHEMA)
    amounts = rng.integers(1, 100_000, transactions)
    debit_accounts = pl.Series(debit_codes).gather(rng.integers(0, len(debit_codes), transactions))
    credit_accounts = pl.Series(credit_codes).gather(rng.integers(0, len(credit_codes), transactions))
    legs = pl.concat([
        pl.DataFrame({"seq": seq, "idempotency_key": keys, "leg_no": 0, "account": debit_accounts, "direction": "debit", "amount": amounts}),
        pl.DataFrame({"seq": seq, "idempotency_key": keys, "leg_no": 1, "account": credit_accounts, "direction": "credit", "amount": amounts}),
    ]).with_columns(
        pl.col("leg_no").cast(pl.Int32),
        currency=pl.lit("USD"),
        lock_version=pl.lit(None, pl.Int64),
        conditions=pl.lit([], LEGS_SCHEMA["conditions"]),
    ).select(list(LEGS_SCHEMA)).cast(LEGS_SCHEMA).sort("seq", "leg_no")
    return PostingPlan(postings=postings, legs=legs)


def warm_plan(accounts: int) -> PostingPlan:
    """A plan that touches every account once (not timed): every account and a first balance row
    for it exist afterwards (steady state: a batch posts to accounts that already exist)."""
    debit_codes, credit_codes = account_codes(accounts)
    warm = make_plan("warm", max(len(debit_codes), len(credit_codes)), accounts, seed=1)
    warm.legs = warm.legs.with_columns(
        account=pl.when(pl.col("leg_no") == 0)
        .then(pl.Series(debit_codes).gather(pl.Series(np.arange(warm.legs.height) // 2 % len(debit_codes))))
        .otherwise(pl.Series(credit_codes).gather(pl.Series(np.arange(warm.legs.height) // 2 % len(credit_codes))))
    )
    return warm


def plain_rows(plan: PostingPlan) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The transaction and entry rows apply_plan would write for ``plan``."""
    tx = plan.postings.with_columns(
        transaction_id=uuid7_column(plan.postings.height),
        posted_at=pl.col("effective_at"),
        batch_id=pl.lit(str(uuid.uuid4())),
        source_event_id=pl.col("event_id"),
        source_event_type=pl.col("event_type"),
    )
    entries = plan.legs.join(tx.select("seq", "transaction_id", "effective_at"), on="seq").select(
        "transaction_id", pl.col("leg_no").alias("entry_no"), account_id_column(plan.legs["account"]).alias("account_id"),
        "direction", "amount", "currency", "effective_at",
    )
    return tx, entries


# ---------------------------------------------------------------------------------------------
# bulk runs
# ---------------------------------------------------------------------------------------------


def timed_copy(dsn: str, kind: str, tx: pl.DataFrame, entries: pl.DataFrame) -> float:
    """Seconds to COMMIT of one COPY of ``tx`` and ``entries`` into the ``kind`` tables."""
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        with conn.transaction():
            if kind == "plain_csv":
                copy_frame(conn, "bench.plain_transactions", tx, TRANSACTION_COLUMNS)
                copy_frame(conn, "bench.plain_entries", entries, ENTRY_COLUMNS)
            else:
                copy_binary(conn, f"bench.{kind}_transactions", tx, TRANSACTION_COLUMN_TYPES)
                copy_binary(conn, f"bench.{kind}_entries", entries, ENTRY_COLUMN_TYPES)
        return time.perf_counter() - start


def timed_guarded(dsn: str, plan: PostingPlan) -> tuple[float, int, float]:
    """Seconds to COMMIT of ``apply_plan``, entries made, and seconds of sealing the committed batch
    into the hash chain afterwards (what the ingest writer does after every batch)."""
    with psycopg.connect(dsn) as conn:
        start = time.perf_counter()
        with conn.transaction():
            result = apply_plan(conn, plan, batch_id=str(uuid.uuid4()), account_types=ACCOUNT_TYPES)
        elapsed = time.perf_counter() - start
        start = time.perf_counter()
        seal(conn)
        sealing = time.perf_counter() - start
    counts = result.counts()
    assert counts["posted"] == plan.postings.height and counts["quarantined"] == 0, counts
    return elapsed, result.entries_created, sealing


def chain_bytes_per_transaction(dsn: str) -> float:
    """What the hash chain stores per sealed transaction (record ids and digests, table and TOAST)."""
    with psycopg.connect(dsn) as conn:
        size, sealed = conn.execute("SELECT pg_total_relation_size('ledger.chain'), sum(transactions) FROM ledger.chain").fetchone()
    return size / max(int(sealed or 0), 1)


def checkpoint(superuser_dsn: str) -> None:
    """Start every measurement from a clean checkpoint, so none pays for another's dirty pages."""
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        conn.execute("VACUUM ANALYZE")


def bulk_benchmark(dsns, superuser_dsn: str, transactions: int, accounts: int, batches: int, repeat: int) -> dict:
    timed_guarded(dsns.writer_dsn, warm_plan(accounts))
    with psycopg.connect(dsns.dsn, autocommit=True) as conn:
        conn.execute(PLAIN_DDL)
        add_month_partitions(conn, "bench.indexed_entries", pl.Series([T0]))

    per_batch = transactions // batches
    runs: dict[str, list[float]] = {"plain": [], "plain_csv": [], "indexed": [], "guarded": [], "seal": []}
    entries_total = 0
    for r in range(repeat):
        plans = [make_plan(f"r{r}b{b}", per_batch, accounts, seed=100 * r + b) for b in range(batches)]
        rows = [plain_rows(p) for p in plans]
        for kind in ("plain", "plain_csv", "indexed"):
            if kind == "plain_csv":
                with psycopg.connect(dsns.dsn, autocommit=True) as conn:
                    conn.execute("TRUNCATE bench.plain_transactions, bench.plain_entries")
            checkpoint(superuser_dsn)
            runs[kind].append(sum(timed_copy(dsns.dsn, kind, tx, entries) for tx, entries in rows))
        checkpoint(superuser_dsn)
        elapsed = sealing = 0.0
        entries_total = 0
        for plan in plans:
            seconds, made, sealed = timed_guarded(dsns.writer_dsn, plan)
            elapsed += seconds
            sealing += sealed
            entries_total += made
        runs["guarded"].append(elapsed)
        runs["seal"].append(sealing)
    entries = 2 * per_batch * batches
    assert entries_total == entries
    best = {k: min(v) for k, v in runs.items()}
    rates = {k: entries / v for k, v in best.items() if k != "seal"}
    return {
        "transactions": per_batch * batches, "entries": entries, "accounts": accounts, "batches": batches, "repeat": repeat,
        "seconds": runs, "best_seconds": best, "entries_per_second": rates,
        "seal_over_guarded": best["seal"] / best["guarded"], "chain_bytes_per_transaction": chain_bytes_per_transaction(dsns.dsn),
        "guarded_over_plain": rates["guarded"] / rates["plain"], "guarded_over_indexed": rates["guarded"] / rates["indexed"],
    }


# ---------------------------------------------------------------------------------------------
# single-transaction posting
# ---------------------------------------------------------------------------------------------
def _writer(writer_dsn: str, worker: int, accounts: int, hot: bool, seconds: float, barrier) -> int:
    from ledger_pipelines.ledger.model import Leg, NewTransaction
    from ledger_pipelines.ledger.posting import Ledger
    from ledger_pipelines.postgres.database import connect

    ledger = Ledger(connect(writer_dsn), actor=f"bench-{worker}")
    rng = random.Random(worker)
    debit_codes, credit_codes = account_codes(accounts)
    ledger.account_types  # noqa: B018 (loaded once, before timing)
    barrier.wait()
    deadline = time.perf_counter() + seconds
    done = 0
    while time.perf_counter() < deadline:
        debit = "assets:hot" if hot else rng.choice(debit_codes)
        amount = rng.randint(1, 1000)
        tx = NewTransaction(
            f"s-{uuid.uuid4()}",
            (Leg(debit, "debit", amount, "USD"), Leg(rng.choice(credit_codes), "credit", amount, "USD")),
            T0 + timedelta(seconds=rng.randint(0, 10**6)),
        )
        ledger.post(tx)
        done += 1
    ledger.conn.close()
    return done


def single_benchmark(dsns, accounts: int, writers: list[int], seconds: float) -> list[dict]:
    ctx = multiprocessing.get_context("spawn")
    results = []
    for hot in (False, True):
        for n in writers:
            with ctx.Manager() as manager, ctx.Pool(n) as pool:
                barrier = manager.Barrier(n)
                jobs = [pool.apply_async(_writer, (dsns.writer_dsn, i, accounts, hot, seconds, barrier)) for i in range(n)]
                total = sum(j.get(seconds * 10 + 120) for j in jobs)
            results.append({"accounts": "hot" if hot else "spread", "writers": n, "postings": total, "seconds": seconds,
                            "postings_per_second": total / seconds})
    # the hash chain: postings are not sealed one by one; one seal (as `subledger run` or the next
    # ingest batch does) takes every posting made above
    with psycopg.connect(dsns.writer_dsn) as conn:
        start = time.perf_counter()
        seal(conn)
        sealing = time.perf_counter() - start
    postings = sum(r["postings"] for r in results)
    posting_seconds = sum(r["seconds"] for r in results)
    results.append({"accounts": "seal", "writers": 0, "postings": postings, "seconds": sealing,
                    "postings_per_second": postings / sealing, "share_of_posting_time": sealing / posting_seconds})
    # ratios against the fewest writers measured (1 by default; `--writers 4` alone compares with itself)
    fewest = min(writers)
    base = {r["accounts"]: r["postings_per_second"] for r in results if r["writers"] == fewest}
    base["seal"] = base["spread"]
    spread_one = base["spread"]
    for r in results:
        r["vs_1_writer_same_accounts"] = r["postings_per_second"] / base[r["accounts"]]
        r["vs_1_writer_spread"] = r["postings_per_second"] / spread_one
    return results


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
def print_report(bulk: dict | None, single: list[dict] | None) -> None:
    if bulk:
        print(f"\nBulk posting: {bulk['transactions']:,} transactions x 2 legs = {bulk['entries']:,} entries over "
              f"{bulk['accounts']:,} accounts, {bulk['batches']} batch(es), best of {bulk['repeat']}")
        print(f"{'path':<52} {'seconds':>8} {'entries/s':>12} {'vs plain':>9} {'vs indexed':>11}")
        labels = {
            "plain": "(a) COPY, no indexes/constraints/triggers",
            "plain_csv": "    the same as a CSV COPY (text parsed by the server)",
            "indexed": "(b) COPY, ledger indexes, no triggers/constraints",
            "guarded": "apply_plan, every guard on (to COMMIT)",
        }
        rates = bulk["entries_per_second"]
        for kind in ("plain", "plain_csv", "indexed", "guarded"):
            print(f"{labels[kind]:<52} {bulk['best_seconds'][kind]:>8.2f} {rates[kind]:>12,.0f} "
                  f"{rates[kind] / rates['plain']:>9.2f} {rates[kind] / rates['indexed']:>11.2f}")
        print(f"{'hash chain: seal_chain of the batch, after COMMIT':<52} {bulk['best_seconds']['seal']:>8.2f} "
              f"{'':>12} {'':>9} {'':>11}  (+{bulk['seal_over_guarded']:.1%} of apply_plan; "
              f"{bulk['chain_bytes_per_transaction']:.0f} bytes of chain per transaction)")
    if single:
        print("\nSingle-transaction posting (Ledger.post, 2 legs, one transaction per commit, separate processes)")
        fewest = min(r["writers"] for r in single if r["accounts"] != "seal")
        print(f"{'accounts':<9} {'writers':>7} {'postings':>9} {'postings/s':>11} {f'vs {fewest} writer(s)':>16} "
              f"{f'vs {fewest} writer(s) spread':>23}")
        for r in single:
            if r["accounts"] == "seal":
                print(f"hash chain: one seal_chain of all {r['postings']:,} postings above: {r['seconds']:.2f} s "
                      f"({r['postings_per_second']:,.0f} postings/s sealed; {r['share_of_posting_time']:.1%} of the time "
                      "spent posting them)")
                continue
            print(f"{r['accounts']:<9} {r['writers']:>7} {r['postings']:>9,} {r['postings_per_second']:>11,.0f} "
                  f"{r['vs_1_writer_same_accounts']:>16.2f} {r['vs_1_writer_spread']:>23.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="bulk: best of this many runs")
    parser.add_argument("--writers", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=5.0, help="single: seconds per configuration")
    parser.add_argument("--skip-bulk", action="store_true")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cluster (prints where)")
    args = parser.parse_args(argv)

    with temporary_cluster("subledger-bench-", keep=args.keep) as bench:
        dsns = bench.start()
        superuser = bench.superuser_dsn()
        server = server_facts(superuser)
        print(describe_server(server))
        bulk = None if args.skip_bulk else bulk_benchmark(dsns, superuser, args.transactions, args.accounts, args.batches, args.repeat)
        single = None if args.skip_single else single_benchmark(
            dsns, args.accounts, [int(w) for w in args.writers.split(",")], args.seconds)
        print_report(bulk, single)
        write_results("ledger", {"server": server, "cpus": os.cpu_count(), "args": vars(args), "bulk": bulk, "single": single})
    return 0


if __name__ == "__main__":
    sys.exit(main())
