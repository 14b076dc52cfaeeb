"""Single postings side by side with pgledger: subledger's ``Ledger.post`` against pgledger's
``pgledger_create_transfer``, on one embedded Postgres, alternately, in the same run.

Run: ``nice .venv/bin/python -m bench.single_post_bench`` (``--help`` for the knobs; the machine is
shared, so the ratios of one run are what count). It starts its own cluster under a temporary
SUBLEDGER_HOME with the default durability (fsync and synchronous_commit on), installs the ledger
into database ``subledger`` and pgledger (``/work/shared/peers/pgledger``, PEER.md's install order)
into its own database ``pgledger``, prints a table and writes the numbers as JSON to
``bench/results/``.

Every posting is one two-leg transfer of a random amount in USD, one database transaction,
committed, from a writer process with its own connection (autocommit; pgledger's call and
subledger's are each one round trip of a prepared statement: pgledger's on one cursor the writer
keeps, subledger's as ``Ledger.post`` sends it, through libpq directly,
``ledger_pipelines/postgres/prepared.py``):

* ``spread``     -- both legs on random accounts among ``--accounts`` (1,000);
* ``hot``        -- every transfer takes from one hot account (funded first), to a random one;
* ``hot+cond``   -- the same with a balance condition on another hot account (each system's own,
  funded like the first, so the cell does not start on a row the cells before it hammered):
  subledger's leg condition ``available >= 0`` on ``assets:hot_guarded``, pgledger's
  ``hot_guarded`` account created with ``allow_negative_balance = false``;
* ``hot/batch``, ``hot+cond/batch`` -- the same postings, subledger's writers sending them
  ``--batch`` at a time with ``Ledger.post_many`` (one call and one commit per batch, an outcome
  per posting; roadmap 4.1), pgledger's still one ``pgledger_create_transfer`` per transfer: it has
  no call for several transfers with one outcome each, so the peer's own API is the comparison.

Per cell (accounts x writers) and round the two systems run one after the other (the order flips
every round), each for ``--seconds``. Printed per cell: postings/s of each (median of the rounds
and their range), the ratio subledger/pgledger (median of the per-round ratios, and their range),
CPU per posting in the writer process (client) and in its Postgres backend (server, from
``/proc/<pid>/stat``), the mean number of backends waiting for a lock during the run (``waits``),
and the database transactions rolled back during the run (``rollbacks``: lock retries, deadlocks,
refused conditions; 0 is expected).

``--client prebuilt`` (measurement only) takes subledger's client-side Python out of the timing:
each subledger writer builds its postings and their call parameters (``NewTransaction``, uuid7,
content hash, array literals) before the clock starts, and the timed loop only makes the calls
(``Ledger._call``: one prepared ``ledger.post_transaction`` per posting, as ``Ledger.post`` makes it)
and reads the rows back. That is the ceiling of a client doing that work in compiled code, with the
server's side unchanged. Single-posting modes only.

Each subledger writer checks every account code once before the timing starts: ``Leg`` checks a
code with the account-code rule's Polars expression the first time a process sees it (~0.5 ms,
memoised), which a long-running writer has long paid; the timed loop measures the steady state.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from bench.harness import describe_server, server_facts, temporary_cluster, write_results

PGLEDGER = Path("/work/shared/peers/pgledger")
PGLEDGER_FILES = ("vendor/scoville-pgsql-ulid/ulid-to-uuid.sql", "vendor/scoville-pgsql-ulid/uuid-to-ulid.sql", "pgledger.sql")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
FUNDS = 10**15
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# The hot account of each hot mode; with a condition, another one, as pgledger's ``hot_guarded``
# (install_pgledger): a cell does not start on a balance row the cells before it hammered.
HOT_ACCOUNTS = {"hot": "assets:hot", "hot+cond": "assets:hot_guarded"}


def spread_code(i: int) -> str:
    return f"assets:spread:a{i:04d}"


def backend_cpu_seconds(pid: int) -> float:
    """user + system CPU of a local process (a Postgres backend) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# ---------------------------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------------------------
def install_pgledger(cluster, superuser_dsn: str, accounts: int) -> tuple[str, dict]:
    """Create database ``pgledger`` owned by the ledger owner, install pgledger, create the accounts."""
    from ledger_pipelines.postgres.cluster import OWNER_ROLE

    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE pgledger OWNER {}").format(sql.Identifier(OWNER_ROLE)))
    dsn = cluster.dsns(database="pgledger").dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in PGLEDGER_FILES:
            conn.execute((PGLEDGER / name).read_text())
        ids = {}
        for i in range(accounts):
            ids[i] = conn.execute("SELECT id FROM pgledger_create_account(%s, 'USD')", [spread_code(i)]).fetchone()[0]
        for name, negative in (("funding", True), ("hot", True), ("hot_guarded", False)):
            ids[name] = conn.execute("SELECT id FROM pgledger_create_account(%s, 'USD', %s)", [name, negative]).fetchone()[0]
        for hot in ("hot", "hot_guarded"):
            conn.execute("SELECT pgledger_create_transfer(%s, %s, %s)", [ids["funding"], ids[hot], FUNDS])
    return dsn, ids


def prepare_subledger(writer_dsn: str, accounts: int) -> None:
    """Create the accounts (first use creates them) and fund the hot accounts."""
    from ledger_pipelines.ledger.model import Leg, NewTransaction
    from ledger_pipelines.ledger.posting import Ledger

    with psycopg.connect(writer_dsn) as conn:
        ledger = Ledger(conn, actor="bench-setup")
        for hot in HOT_ACCOUNTS.values():
            ledger.post(NewTransaction(f"fund-{hot}", (Leg(hot, "debit", FUNDS, "USD"),
                                                       Leg("equity:capital", "credit", FUNDS, "USD")), T0))
        for i in range(0, accounts, 2):
            ledger.post(NewTransaction(f"open-{i}", (Leg(spread_code(i), "debit", 1, "USD"),
                                                      Leg(spread_code(min(i + 1, accounts - 1)), "credit", 1, "USD")), T0))


# ---------------------------------------------------------------------------------------------
# writers (one process each)
# ---------------------------------------------------------------------------------------------
def pgledger_writer(dsn: str, ids: dict, worker: int, accounts: int, mode: str, batch: int, seconds: float,
                    barrier) -> dict:
    rng = random.Random(worker)
    mode = mode.removesuffix("@prebuilt").removesuffix("/batch")  # pgledger posts one transfer per call (module docs)
    hot = ids["hot_guarded"] if mode == "hot+cond" else ids["hot"]
    query = "SELECT id FROM pgledger_create_transfer(%s, %s, %s)"
    with psycopg.connect(dsn, autocommit=True) as conn:
        # One cursor for every call, the statement prepared before timing: one round trip per
        # transfer, as Ledger.post's prepared call is.
        cursor = conn.cursor()
        cursor.execute(query, [ids[0], ids[1], 1], prepare=True)
        pid = conn.info.backend_pid
        barrier.wait()
        cpu, backend, start = time.process_time(), backend_cpu_seconds(pid), time.perf_counter()
        deadline, done = start + seconds, 0
        while time.perf_counter() < deadline:
            amount = rng.randint(1, 1000)
            if mode == "spread":
                a, b = rng.sample(range(accounts), 2)
                source, target = ids[a], ids[b]
            else:
                source, target = hot, ids[rng.randrange(accounts)]
            cursor.execute(query, [source, target, amount], prepare=True).fetchone()
            done += 1
        return {"postings": done, "seconds": time.perf_counter() - start, "client_cpu": time.process_time() - cpu,
                "backend_cpu": backend_cpu_seconds(pid) - backend}


def subledger_writer(dsn: str, ids: dict, worker: int, accounts: int, mode: str, batch: int, seconds: float,
                     barrier) -> dict:
    from ledger_pipelines.accounting.accounts import validate_account_code
    from ledger_pipelines.ledger.model import Condition, Leg, NewTransaction, PostedTransaction
    from ledger_pipelines.ledger.posting import _POST_CALL, Ledger

    prebuilt, mode = mode.endswith("@prebuilt"), mode.removesuffix("@prebuilt")
    rng = random.Random(worker)
    hot = HOT_ACCOUNTS["hot+cond" if mode.startswith("hot+cond") else "hot"]
    for code in [hot] + [spread_code(i) for i in range(accounts)]:
        validate_account_code(code)  # memoised per process: a long-running writer has seen its codes
    batched, mode = mode.endswith("/batch"), mode.removesuffix("/batch")
    guard = (Condition("available", "gte", 0),) if mode == "hot+cond" else ()
    with psycopg.connect(dsn) as conn:
        ledger = Ledger(conn, actor=f"bench-{worker}")
        ledger.post(NewTransaction(f"warm-{uuid.uuid4()}", (Leg(spread_code(0), "debit", 1, "USD"),
                                                             Leg(spread_code(1), "credit", 1, "USD")), T0))
        pid = conn.info.backend_pid
        # Each posting's idempotency key: this run's prefix and a counter. A producer's key is an
        # id it already holds (its event id, source-events.md), not one made per posting; a uuid4
        # per posting cost the loop ~15 us that is neither Ledger.post's nor in pgledger's loop.
        key_prefix, numbers = f"s-{uuid.uuid4()}-", itertools.count()

        def new_transaction() -> NewTransaction:
            amount = rng.randint(1, 1000)
            if mode == "spread":
                a, b = rng.sample(range(accounts), 2)
                legs = (Leg(spread_code(b), "debit", amount, "USD"), Leg(spread_code(a), "credit", amount, "USD"))
            else:
                legs = (Leg(spread_code(rng.randrange(accounts)), "debit", amount, "USD"),
                        Leg(hot, "credit", amount, "USD", guard))
            return NewTransaction(f"{key_prefix}{next(numbers)}", legs, T0 + timedelta(seconds=rng.randint(0, 10**6)))

        calls: list[dict] = []
        if prebuilt:  # every call's parameters, as Ledger.post builds them, before the clock starts
            calls = [ledger._post_arguments(new_transaction(), None) for _ in range(int(seconds * PREBUILT_PER_SECOND))]
        barrier.wait()
        cpu, backend, start = time.process_time(), backend_cpu_seconds(pid), time.perf_counter()
        deadline, done = start + seconds, 0
        if prebuilt:
            for params in calls:
                if time.perf_counter() >= deadline:
                    break
                ledger._call(_POST_CALL, params)
                done += 1
            return {"postings": done, "seconds": time.perf_counter() - start, "client_cpu": time.process_time() - cpu,
                    "backend_cpu": backend_cpu_seconds(pid) - backend, "ran_out": done == len(calls)}
        pending: list[NewTransaction] = []
        while time.perf_counter() < deadline:
            tx = new_transaction()  # built in the loop, as a writer builds what it posts
            if not batched:
                ledger.post(tx)
                done += 1
                continue
            pending.append(tx)
            if len(pending) == batch:
                outcomes = ledger.post_many(pending)
                assert all(isinstance(o, PostedTransaction) and o.created for o in outcomes), outcomes
                done += len(pending)
                pending = []
        return {"postings": done, "seconds": time.perf_counter() - start, "client_cpu": time.process_time() - cpu,
                "backend_cpu": backend_cpu_seconds(pid) - backend}


WRITERS = {"pgledger": pgledger_writer, "subledger": subledger_writer}
# Postings prebuilt per writer and second of --client prebuilt: more than any one writer posts in a
# second (the loop stops early, and says so, if they run out).
PREBUILT_PER_SECOND = 4000


# ---------------------------------------------------------------------------------------------
# one run: n writers of one system for `seconds`, lock waiters sampled meanwhile
# ---------------------------------------------------------------------------------------------
def rollbacks(superuser_dsn: str, database: str) -> int:
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT xact_rollback FROM pg_stat_database WHERE datname = %s", [database]).fetchone()[0]


def run(pool, manager, superuser_dsn: str, system: str, dsn: str, ids: dict, accounts: int, mode: str, writers: int,
        batch: int, seconds: float) -> dict:
    database = system
    barrier = manager.Barrier(writers)
    before = rollbacks(superuser_dsn, database)
    jobs = [pool.apply_async(WRITERS[system], (dsn, ids, w, accounts, mode, batch, seconds, barrier))
            for w in range(writers)]
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(superuser_dsn, autocommit=True) as conn:
            while not stop.wait(0.05):
                samples.append(conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                            "AND wait_event_type = 'Lock'", [database]).fetchone()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results = [j.get(seconds * 10 + 120) for j in jobs]
    stop.set()
    sampler.join()
    time.sleep(0.2)  # let the statistics collector see the last rollbacks
    if any(r.get("ran_out") for r in results):
        print(f"note: a {system} writer used all its prebuilt postings before the {seconds} s were up (rate over its own time)")
    posts = sum(r["postings"] for r in results)
    elapsed = max(r["seconds"] for r in results)
    return {
        "system": system, "accounts": mode, "writers": writers, "postings": posts,
        "postings_per_second": posts / elapsed,
        "client_cpu_ms_per_post": 1000 * sum(r["client_cpu"] for r in results) / max(posts, 1),
        "backend_cpu_ms_per_post": 1000 * sum(r["backend_cpu"] for r in results) / max(posts, 1),
        "mean_lock_waiters": statistics.fmean(samples) if samples else 0.0,
        "rollbacks": rollbacks(superuser_dsn, database) - before,
    }


def summarize(runs: list[dict]) -> list[dict]:
    """Per cell: medians and ranges over the rounds; the ratio is taken per round (same conditions)."""
    cells: dict[tuple[str, int], dict[int, dict[str, dict]]] = {}
    for r in runs:
        cells.setdefault((r["accounts"], r["writers"]), {}).setdefault(r["round"], {})[r["system"]] = r
    out = []
    for (mode, writers), rounds in cells.items():
        pairs = [(rs["pgledger"], rs["subledger"]) for rs in rounds.values() if len(rs) == 2]
        ratios = [s["postings_per_second"] / p["postings_per_second"] for p, s in pairs]

        def med(system: int, key: str, pairs: list[tuple[dict, dict]] = pairs) -> float:
            return statistics.median(pair[system][key] for pair in pairs)

        out.append({
            "accounts": mode, "writers": writers, "rounds": len(pairs),
            "pgledger_per_second": med(0, "postings_per_second"), "subledger_per_second": med(1, "postings_per_second"),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "pgledger_cpu_ms": (med(0, "client_cpu_ms_per_post"), med(0, "backend_cpu_ms_per_post")),
            "subledger_cpu_ms": (med(1, "client_cpu_ms_per_post"), med(1, "backend_cpu_ms_per_post")),
            "waits": (med(0, "mean_lock_waiters"), med(1, "mean_lock_waiters")),
            "rollbacks": (sum(p["rollbacks"] for p, _ in pairs), sum(s["rollbacks"] for _, s in pairs)),
        })
    return out


def print_table(cells: list[dict], batch: int) -> None:
    print("\nSingle postings, subledger Ledger.post vs pgledger pgledger_create_transfer (medians of the rounds; "
          f"ratio = subledger/pgledger per round; /batch: subledger's Ledger.post_many of {batch} postings per call, "
          "pgledger one transfer per call, its own API)")
    print(f"{'accounts':<15}{'writers':>8}{'pgledger/s':>12}{'subledger/s':>13}{'ratio':>7}{'(min-max)':>13}"
          f"{'cpu ms/post pg c|b':>21}{'sub c|b':>13}{'waits pg|sub':>14}{'rollbacks':>11}")
    for c in cells:
        print(f"{c['accounts']:<15}{c['writers']:>8}{c['pgledger_per_second']:>12,.0f}{c['subledger_per_second']:>13,.0f}"
              f"{c['ratio']:>7.2f}{c['ratio_min']:>7.2f}-{c['ratio_max']:<5.2f}"
              f"{c['pgledger_cpu_ms'][0]:>12.2f}|{c['pgledger_cpu_ms'][1]:<8.2f}"
              f"{c['subledger_cpu_ms'][0]:>5.2f}|{c['subledger_cpu_ms'][1]:<7.2f}"
              f"{c['waits'][0]:>7.1f}|{c['waits'][1]:<6.1f}{c['rollbacks'][0]:>5}|{c['rollbacks'][1]:<5}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--writers", default="1,4,8", help="spread and hot")
    parser.add_argument("--hot-writers", default="16", help="hot (with and without condition) only, added")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per system, cell and round")
    parser.add_argument("--modes", default="spread,hot,hot+cond,hot/batch,hot+cond/batch")
    parser.add_argument("--batch", type=int, default=16, help="postings per Ledger.post_many call in the /batch modes")
    parser.add_argument("--client", choices=("typed", "prebuilt"), default="typed",
                        help="prebuilt: subledger's call parameters built before timing (module docs; measurement only)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cluster (prints where)")
    args = parser.parse_args(argv)
    if args.client == "prebuilt" and any(m.endswith("/batch") for m in args.modes.split(",")):
        parser.error("--client prebuilt measures single postings: give --modes without the /batch ones")
    writers = [int(w) for w in args.writers.split(",")]
    hot_writers = [int(w) for w in args.hot_writers.split(",") if w]
    modes = args.modes.split(",")
    plan = [(mode, n) for mode in modes for n in (writers + (hot_writers if mode != "spread" else []))]

    with temporary_cluster("subledger-single-bench-", keep=args.keep) as bench:
        dsns = bench.start()
        superuser = bench.cluster.superuser_dsn("subledger")
        server = server_facts(superuser)
        print(describe_server(server))
        pg_dsn, pg_ids = install_pgledger(bench.cluster, bench.cluster.superuser_dsn(), args.accounts)
        prepare_subledger(dsns.writer_dsn, args.accounts)
        targets = {"pgledger": (pg_dsn, pg_ids), "subledger": (dsns.writer_dsn, {})}
        ctx = multiprocessing.get_context("spawn")
        runs = []
        with ctx.Manager() as manager, ctx.Pool(max(n for _, n in plan)) as pool:
            for round_no in range(1, args.rounds + 1):
                order = ("pgledger", "subledger") if round_no % 2 else ("subledger", "pgledger")
                for mode, n in plan:
                    for system in order:
                        dsn, ids = targets[system]
                        writer_mode = f"{mode}@prebuilt" if args.client == "prebuilt" else mode
                        r = run(pool, manager, superuser, system, dsn, ids, args.accounts, writer_mode, n, args.batch,
                                args.seconds)
                        r["accounts"] = mode
                        r["round"] = round_no
                        runs.append(r)
                        print(f"round {round_no} {mode:<14} {n:>2} writers {system:<9} {r['postings_per_second']:>8,.0f}/s "
                              f"cpu c|b {r['client_cpu_ms_per_post']:.2f}|{r['backend_cpu_ms_per_post']:.2f} ms "
                              f"waits {r['mean_lock_waiters']:.1f} rollbacks {r['rollbacks']}", flush=True)
        cells = summarize(runs)
        print_table(cells, args.batch)
        write_results("single-post", {"server": server, "args": vars(args), "runs": runs, "cells": cells})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
