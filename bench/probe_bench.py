"""Idempotency and reference probes of one batch (issue 17): today's one index probe per key against a join, side by side.

Run: ``nice .venv/bin/python -m bench.probe_bench`` (``--help`` for sizes). One embedded Postgres at
default durability. ``ledger.transactions`` is filled with ``--ledger`` synthetic rows (as the
superuser with ``session_replication_role = replica``: rows and indexes only, no trigger -- the
probes read nothing else), every fifth one moved (it holds a transition key). A batch of ``--keys``
keys, ``--hits`` of them already in the ledger (half idempotency keys, half transition keys), each
creating posting with a business reference (``--hits`` of them held already), is copied into
``bulk_keys`` as :func:`ledger_pipelines.ledger.bulk.keys.check_keys` does; then each variant runs
``--rounds`` times, the variants alternating, with JIT off as in ``apply_plan``, and must return
the same rows as today's query:

* keys, today: ``sql/ledger/bulk/existing_keys.sql`` (``LATERAL ... LIMIT 1``: one probe per key
  of each unique index);
* keys, join: the same rows by a join, after ``ANALYZE bulk_keys`` (the planner's choice);
* keys, merge join: the join forced to merge the batch's sorted keys with the unique indexes
  (hash and nested-loop joins off);
* keys, ``= ANY``: one index scan per index for the array of the batch's keys;
* references, today: ``sql/ledger/bulk/reference_conflicts.sql``; references, ``= ANY``: one
  index scan for all of them, the first holder per event by ``DISTINCT ON``.

Prints seconds per round and the best; writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import polars as pl
import psycopg

from bench.harness import describe_server, server_facts, temporary_cluster, write_results
from ledger_pipelines.paths import read_sql
from ledger_pipelines.postgres.copy import copy_binary

QUICK_ARGV = ["--ledger", "20000", "--keys", "5000", "--hits", "200", "--rounds", "2"]  # what `python -m bench` passes

FILL = """
INSERT INTO ledger.transactions (idempotency_key, status, effective_at, posted_at, reference, content_hash,
                                 status_changed_at, transition_key, transition_hash)
SELECT 'evt_' || i, 'posted', at, at, 'usage:u_' || i, md5(i::text),
       CASE WHEN i %% 5 = 0 THEN at END, CASE WHEN i %% 5 = 0 THEN 'settle_' || i END,
       CASE WHEN i %% 5 = 0 THEN md5('settle_' || i) END
  FROM generate_series(1, %(n)s) i, LATERAL (SELECT timestamptz '2024-01-01' + i * interval '1 minute' AS at) t
"""
KEYS_JOIN = """
SELECT k.seq, k.key, t.content_hash AS stored_hash, t.transaction_id::text
  FROM bulk_keys k JOIN ledger.transactions t ON t.idempotency_key = k.key
UNION ALL
SELECT k.seq, k.key, t.transition_hash, t.transaction_id::text
  FROM bulk_keys k JOIN ledger.transactions t ON t.transition_key = k.key AND t.transition_key IS NOT NULL
"""
KEYS_ANY = """
SELECT k.seq, k.key, t.content_hash AS stored_hash, t.transaction_id::text
  FROM ledger.transactions t JOIN bulk_keys k ON k.key = t.idempotency_key
 WHERE t.idempotency_key = ANY (ARRAY(SELECT key FROM bulk_keys))
UNION ALL
SELECT k.seq, k.key, t.transition_hash, t.transaction_id::text
  FROM ledger.transactions t JOIN bulk_keys k ON k.key = t.transition_key
 WHERE t.transition_key = ANY (ARRAY(SELECT key FROM bulk_keys))
"""
REFERENCES_ANY = """
SELECT DISTINCT ON (k.seq) k.seq, k.reference, t.transaction_id::text, t.idempotency_key
  FROM ledger.transactions t
  JOIN bulk_keys k ON k.reference = t.reference AND t.idempotency_key <> k.key
 WHERE t.reference = ANY (ARRAY(SELECT reference FROM bulk_keys WHERE reference IS NOT NULL))
 ORDER BY k.seq, t.created_at, t.transaction_id
"""
# name -> (query, settings for the variant, baseline it must agree with)
VARIANTS = {
    "keys: one probe per key (today)": (read_sql("ledger/bulk/existing_keys.sql"), {}, None),
    "keys: join, planner's choice": (KEYS_JOIN, {}, "keys: one probe per key (today)"),
    "keys: merge join on sorted keys": (KEYS_JOIN, {"enable_hashjoin": "off", "enable_nestloop": "off"},
                                        "keys: one probe per key (today)"),
    "keys: = ANY(batch keys)": (KEYS_ANY, {}, "keys: one probe per key (today)"),
    "references: one probe per reference (today)": (read_sql("ledger/bulk/reference_conflicts.sql"), {}, None),
    "references: = ANY(batch references)": (REFERENCES_ANY, {}, "references: one probe per reference (today)"),
}


def batch_keys(keys: int, hits: int, ledger: int, seed: int) -> pl.DataFrame:
    """The batch: ``hits`` keys and references the ledger holds, the rest new."""
    rng = random.Random(seed)
    held = rng.sample(range(1, ledger + 1), hits)
    moved = [5 * i for i in rng.sample(range(1, ledger // 5 + 1), hits // 2)]
    known = [f"evt_{i}" for i in held[: hits - len(moved)]] + [f"settle_{i}" for i in moved]
    new = [f"evt_new_{rng.getrandbits(64):016x}" for _ in range(keys - len(known))]
    references = [f"usage:u_{i}" for i in held] + [f"usage:new_{rng.getrandbits(64):016x}" for _ in range(keys - hits)]
    rng.shuffle(references)
    frame = pl.DataFrame({"key": known + new, "reference": references}).sample(fraction=1.0, shuffle=True, seed=seed)
    return frame.with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64), content_hash=pl.lit("c"))


def run(args: argparse.Namespace) -> dict:
    with temporary_cluster("subledger-probe-bench-", keep=False) as bench:
        dsns = bench.start()
        server = server_facts(bench.superuser_dsn())
        print(f"{describe_server(server)}")
        clock = time.perf_counter()
        with psycopg.connect(bench.superuser_dsn()) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute(FILL, {"n": args.ledger})
            conn.execute("SET session_replication_role = DEFAULT")
            conn.execute("ANALYZE ledger.transactions")
        print(f"ledger: {args.ledger:,} transactions in {time.perf_counter() - clock:.1f} s; batch: {args.keys:,} keys, "
              f"{args.hits:,} of them and {args.hits:,} references held already")
        keys = batch_keys(args.keys, args.hits, args.ledger, args.seed)
        seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
        with psycopg.connect(dsns.writer_dsn) as conn:
            conn.execute("SELECT set_config('jit', 'off', true)")
            conn.execute(read_sql("ledger/bulk/create_staging.sql"))
            copy_binary(conn, "bulk_keys", keys.select("seq", "key", "content_hash", "reference"),
                        {"seq": "int8", "key": "text", "content_hash": "text", "reference": "text"})
            conn.execute("ANALYZE bulk_keys")
            answers: dict[str, list] = {}
            for _ in range(args.rounds):
                for name, (query, settings, baseline) in VARIANTS.items():
                    for setting, value in settings.items():
                        conn.execute("SELECT set_config(%s, %s, true)", [setting, value])
                    started = time.perf_counter()
                    rows = sorted(conn.execute(query).fetchall())
                    seconds[name].append(time.perf_counter() - started)
                    for setting in settings:
                        conn.execute("SELECT set_config(%s, 'on', true)", [setting])
                    answers.setdefault(name, rows)
                    if baseline is not None and rows != answers[baseline]:
                        raise AssertionError(f"{name} disagrees with {baseline}")
            conn.rollback()
    print(f"\n{'variant':<46} {'best s':>7}  rounds")
    for name, values in seconds.items():
        print(f"{name:<46} {min(values):>7.3f}  " + " ".join(f"{v:.3f}" for v in values))
    return {"server": server, "ledger": args.ledger, "keys": args.keys, "hits": args.hits, "seconds": seconds,
            "rows": {name: len(rows) for name, rows in answers.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ledger", type=int, default=500_000, help="transactions already in the ledger")
    parser.add_argument("--keys", type=int, default=45_000, help="keys in the batch (a month's file of the ingest bench)")
    parser.add_argument("--hits", type=int, default=1_000, help="keys (and references) of the batch the ledger holds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    write_results("probe", {"args": {k: str(v) for k, v in vars(args).items()}, **run(args)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
