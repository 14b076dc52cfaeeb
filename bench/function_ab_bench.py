"""Backend CPU per single posting, for variants of ``ledger.post_transaction`` side by side (issue 16).

Run: ``nice .venv/bin/python -m bench.function_ab_bench [variant.sql ...]``. One embedded Postgres at
default durability, the ledger and pgledger installed as ``bench.single_post_bench`` installs them
(1,000 spread accounts). Each round runs, in turn (the order flips every round), pgledger's
``pgledger_create_transfer`` and every variant: a variant file (e.g. an edited copy of
``sql/schema/functions/ledger.post_transaction.sql``, or SQL that replaces a trigger) is applied as
the ledger's owner before its turn; ``current`` is the schema's own function files. Then one writer
connection posts two-leg spread transfers sequentially for ``--seconds``, calling
``ledger.post_transaction`` directly (``sql/ledger/post.sql``, prepared; no ``Ledger`` client), so
what differs between the lines is the server's work. Printed per variant: postings/s and backend CPU
per posting (from ``/proc/<pid>/stat``), medians of the rounds with their range.

This is how the function's costs in bench/README.md ("Plans, index probes and a leaner call") were
measured: a variant that drops one part (measurement only) says what that part costs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg

from bench.harness import temporary_cluster, write_results
from bench.single_post_bench import T0, backend_cpu_seconds, install_pgledger, prepare_subledger, spread_code
from ledger_pipelines.paths import read_sql, sql_dir
from ledger_pipelines.postgres.migrate import function_files

QUICK_ARGV = ["--rounds", "1", "--seconds", "1"]
PGLEDGER = "pgledger"
CURRENT = "current"


# --condition: a balance condition on the credit leg that always holds, so every posting evaluates it
ALWAYS_HOLDS = {"condition_legs": [2], "condition_balances": ["available"], "condition_ops": ["gte"],
                "condition_amounts": [-10**18]}


def posting_params(rng: random.Random, accounts: int, condition: bool = False) -> dict:
    """``sql/ledger/post.sql``'s parameters for one two-leg spread transfer (with ``condition``, one
    balance condition that holds)."""
    a, b = rng.sample(range(accounts), 2)
    amount = rng.randint(1, 1000)
    return ({"transaction_id": uuid.uuid4(), "idempotency_key": f"ab-{uuid.uuid4()}", "status": "posted",
            "effective_at": T0 + timedelta(seconds=rng.randint(0, 10**6)), "content_hash": "h" * 64,
            "accounts": [spread_code(b), spread_code(a)], "directions": ["debit", "credit"], "amounts": [amount, amount],
            "currencies": ["USD", "USD"], "lock_versions": None, "condition_legs": None, "condition_balances": None,
            "condition_ops": None, "condition_amounts": None, "reference": None, "source_event_id": None,
            "source_event_type": None, "batch_id": None, "description": None, "metadata": None, "source": None}
            | (ALWAYS_HOLDS if condition else {}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", type=Path, help="SQL files, each applied as the owner before its turn")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="per variant and round")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--condition", action="store_true",
                        help="every subledger posting carries one balance condition (that holds); pgledger's are unchanged")
    args = parser.parse_args(argv)
    post_sql = read_sql("ledger/post.sql")
    schema_functions = "\n".join(text for _, text in function_files())
    sources = {CURRENT: schema_functions} | {str(path): path.read_text() for path in args.variants}
    names = [PGLEDGER, *sources]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    rng = random.Random(7)

    with temporary_cluster("subledger-function-ab-") as bench:
        dsns = bench.start()
        pg_dsn, pg_ids = install_pgledger(bench.cluster, bench.cluster.superuser_dsn(), args.accounts)
        prepare_subledger(dsns.writer_dsn, args.accounts)

        def transfer(conn: psycopg.Connection, name: str) -> None:
            if name == PGLEDGER:
                a, b = rng.sample(range(args.accounts), 2)
                conn.execute("SELECT id FROM pgledger_create_transfer(%s, %s, %s)",
                             [pg_ids[a], pg_ids[b], rng.randint(1, 1000)], prepare=True).fetchone()
            else:
                conn.execute(post_sql, posting_params(rng, args.accounts, args.condition), prepare=True).fetchone()

        for round_no in range(args.rounds):
            for name in names if round_no % 2 == 0 else names[::-1]:
                if name != PGLEDGER:
                    with psycopg.connect(dsns.dsn, autocommit=True) as owner:
                        owner.execute(sources[name])
                with psycopg.connect(pg_dsn if name == PGLEDGER else dsns.writer_dsn, autocommit=True) as conn:
                    for _ in range(100):  # plans made, caches warm
                        transfer(conn, name)
                    pid = conn.info.backend_pid
                    cpu, start, done = backend_cpu_seconds(pid), time.perf_counter(), 0
                    while time.perf_counter() - start < args.seconds:
                        transfer(conn, name)
                        done += 1
                    elapsed = time.perf_counter() - start
                    results[name].append((done / elapsed, 1e3 * (backend_cpu_seconds(pid) - cpu) / done))
        with psycopg.connect(dsns.dsn, autocommit=True) as owner:  # the schema's own functions back
            owner.execute(schema_functions)

    print(f"{'variant':<60} {'postings/s':>11} {'backend ms/post':>16}  (range)")
    for name in names:
        rates = [rate for rate, _ in results[name]]
        cpus = [cpu for _, cpu in results[name]]
        print(f"{name:<60} {statistics.median(rates):>11,.0f} {statistics.median(cpus):>16.3f}  "
              f"({min(cpus):.3f}-{max(cpus):.3f})")
    write_results("function-ab", {"args": {"variants": [str(p) for p in args.variants], "rounds": args.rounds,
                                           "seconds": args.seconds, "sql_dir": str(sql_dir())},
                                  "results": {name: [{"postings_per_second": r, "backend_cpu_ms_per_post": c}
                                                     for r, c in rows] for name, rows in results.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
