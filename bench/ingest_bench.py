"""Ingestion benchmark: generated event files end to end into the ledger, vs a plain COPY of the same rows.

Run: ``.venv/bin/python -m bench.ingest_bench`` (``--help`` for sizes; ``--quick`` for a small
look). It

1. generates the sample files with :func:`ledger_pipelines.generate.generate` (9,000
   subscriptions x 12 months, about 1M events, by default) and caches them under
   ``--data-dir`` (default ``/tmp/subledger-ingest-bench``), so later runs skip this step;
2. starts its own embedded Postgres under a temporary ``SUBLEDGER_HOME`` with the default
   durability settings (fsync, synchronous_commit and full_page_writes on);
3. ingests every file with :func:`ledger_pipelines.ingest.ingestor.ingest_paths` -- the very code
   path of ``subledger ingest`` (one batch and one database transaction per file, file hash,
   read, validate, map, guarded bulk posting, outcomes, quarantine) -- timed from the first
   file to the last commit, and checks that every event got exactly one outcome;
4. in the same run, COPYs the transaction and entry rows the ingestion wrote (the same rows,
   read back from the ledger, in the same binary COPY format) into tables with the same columns
   but no index, constraint or trigger (``plain``), and into tables with the ledger's layout and
   indexes (entries partitioned by month, rows sorted for the account index as ``apply_plan``
   sends them) but no trigger or constraint (``indexed``: the floor any ledger with these lookups
   pays, as in ``bench/floor_bench.py``), each
   timed to COMMIT: the ratios say what the ledger's guarantees cost;
5. prints a table (rates, ratio, where the time went per stage) and writes the numbers as JSON
   to ``bench/results/``; the cluster is removed afterwards (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import polars as pl
import psycopg

from bench.harness import PLAIN_DDL, add_month_partitions, describe_server, server_facts, temporary_cluster, write_results
from ledger_pipelines.generate import MANIFEST_NAME, generate
from ledger_pipelines.ingest.ingestor import ingest_paths, landed_files
from ledger_pipelines.ingest.writer import BatchReport
from ledger_pipelines.ledger.bulk.write import ENTRY_COLUMN_TYPES, TRANSACTION_COLUMN_TYPES
from ledger_pipelines.postgres.copy import copy_binary

DEFAULT_DATA_DIR = Path(tempfile.gettempdir()) / "subledger-ingest-bench"
QUICK = {"subscriptions": 300, "months": 3}
QUICK_ARGV = ["--quick"]  # what `python -m bench` passes



# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def cached_files(data_dir: Path, subscriptions: int, months: int, seed: int) -> tuple[Path, dict, float | None]:
    """The generated files for these arguments (generated once, then reused).

    Returns the folder, its manifest and the generation seconds (None when it came from the
    cache). Files are generated into a scratch folder and renamed into place, so an interrupted
    run never leaves a half-written cache behind.
    """
    folder = data_dir / f"s{subscriptions}-m{months}-seed{seed}"
    manifest_path = folder / MANIFEST_NAME
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if all((folder / name).is_file() for name in manifest["files"]):
            return folder, manifest, None
    data_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=data_dir))
    result = generate(scratch, subscriptions=subscriptions, months=months, seed=seed)
    shutil.rmtree(folder, ignore_errors=True)
    scratch.rename(folder)
    folder.chmod(0o755)
    manifest = json.loads(manifest_path.read_text())
    manifest["events"] = result.events
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return folder, manifest, result.seconds


# ---------------------------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------------------------
def ingest_all(settings, folder: Path, overlap: bool) -> tuple[list[BatchReport], float]:
    """``subledger ingest FOLDER``'s code path, timed from start to the last commit."""
    start = time.perf_counter()
    reports = ingest_paths(settings, [folder], overlap=overlap)
    return reports, time.perf_counter() - start


def ledger_rows(dsn: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The transaction and entry rows the ingestion wrote, typed as the writer has them (read back, not timed)."""

    def read(columns: dict[str, str], table: str) -> pl.DataFrame:
        # times as Unix microseconds (exact), everything else as text; then typed in Polars
        select = ", ".join(
            f"(extract(epoch FROM {c}) * 1000000)::bigint AS {c}" if kind == "timestamptz" else c
            for c, kind in columns.items()
        )
        buffer = io.BytesIO()
        with psycopg.connect(dsn) as conn, conn.cursor().copy(f"COPY (SELECT {select} FROM {table}) TO STDOUT (FORMAT csv, HEADER)") as copy:
            for block in copy:
                buffer.write(block)
        buffer.seek(0)
        frame = pl.read_csv(buffer, infer_schema=False)
        return frame.with_columns(
            [pl.col(c).cast(pl.Int64).cast(pl.Datetime("us", "UTC")) for c, k in columns.items() if k == "timestamptz"]
            + [pl.col(c).cast(pl.Int64 if k == "int8" else pl.Int32) for c, k in columns.items() if k in ("int8", "int4")]
        )

    return read(TRANSACTION_COLUMN_TYPES, "ledger.transactions"), read(ENTRY_COLUMN_TYPES, "ledger.entries")


def timed_copies(dsn: str, superuser_dsn: str, transactions: pl.DataFrame, entries: pl.DataFrame) -> dict[str, float]:
    """COPY the same rows into the ``plain`` and the ``indexed`` tables; seconds to COMMIT for each."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(PLAIN_DDL)
        add_month_partitions(conn, "bench.indexed_entries", entries["effective_at"])
    # In the order of the account index, as apply_plan sends them (the floor of the new layout: bench/floor_bench.py).
    entries = entries.sort("account_id", "currency", "effective_at")
    seconds = {}
    for kind in ("plain", "indexed"):
        checkpoint(superuser_dsn)
        with psycopg.connect(dsn) as conn:
            start = time.perf_counter()
            with conn.transaction():
                copy_binary(conn, f"bench.{kind}_transactions", transactions, TRANSACTION_COLUMN_TYPES)
                seconds[f"{kind}.transactions"] = time.perf_counter() - start
                copy_binary(conn, f"bench.{kind}_entries", entries, ENTRY_COLUMN_TYPES)
            seconds[kind] = time.perf_counter() - start
            seconds[f"{kind}.entries"] = seconds[kind] - seconds[f"{kind}.transactions"]  # with the COMMIT
    return seconds


def checkpoint(superuser_dsn: str) -> None:
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def stage_totals(reports: list[BatchReport]) -> dict[str, float]:
    """Seconds per stage, summed over the batches (stages as recorded in ``BatchReport.timings``)."""
    totals: dict[str, float] = defaultdict(float)
    for report in reports:
        for name, seconds in report.timings.items():
            totals[name] += seconds
    return dict(totals)


def summarise_stages(stages: dict[str, float], total: float) -> list[tuple[str, float]]:
    """The stages in pipeline order, with front end / database subtotals and the unaccounted rest."""
    front = {k: v for k, v in stages.items() if k.startswith("front.")}
    apply_plan = {k: v for k, v in stages.items() if k.startswith("db.apply_plan.")}
    top_apply = {k: v for k, v in apply_plan.items() if k.count(".") == 2}
    database = {k: v for k, v in stages.items() if k.startswith("db.") and not k.startswith("db.apply_plan.")}
    rows: list[tuple[str, float]] = []
    rows.append(("front end (no database)", sum(front.values())))
    rows += [(f"  {k.removeprefix('front.')}", v) for k, v in front.items()]
    db_total = sum(database.values()) + sum(top_apply.values())
    rows.append(("database (one transaction per file)", db_total))
    for k, v in database.items():
        if k == "db.outcomes":
            rows.append(("  apply_plan (ledger bulk path)", sum(top_apply.values())))
            first_seen = {name.split(".")[2]: i for i, name in reversed(list(enumerate(apply_plan)))}
            ordered = sorted(apply_plan.items(), key=lambda kv: (first_seen[kv[0].split(".")[2]], kv[0].count(".")))
            for name, seconds in ordered:
                depth = name.count(".") - 2
                rows.append(("    " + "  " * depth + name.removeprefix("db.apply_plan."), seconds))
        rows.append((f"  {k.removeprefix('db.')}", v))
    rest = total - sum(front.values()) - db_total
    if rest >= 0:
        rows.append(("other (connect, migrations check, already-ingested lookup)", rest))
    else:  # the front end ran beside the writes
        rows.append(("hidden by overlap (front end beside the writes, seals beside the next batch)", rest))
    return rows


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    load_before = os.getloadavg()
    folder, manifest, generated_seconds = cached_files(args.data_dir, args.subscriptions, args.months, args.seed)
    files = landed_files([folder])
    size = sum(p.stat().st_size for p in files)
    print(f"data: {folder} ({len(files)} files, {size / 1e6:,.1f} MB"
          + (f", generated in {generated_seconds:.1f} s" if generated_seconds is not None else ", cached") + ")")

    with temporary_cluster("subledger-bench-", keep=args.keep) as bench:
        settings = bench.settings
        dsns = bench.start()
        superuser = bench.superuser_dsn()
        server = server_facts(superuser)
        print(f"{describe_server(server)}, load average {load_before[0]:.1f}")

        checkpoint(superuser)
        reports, seconds = ingest_all(settings, folder, overlap=not args.no_overlap)
        events = sum(r.events for r in reports)
        outcomes = {k: sum(getattr(r, k) for r in reports) for k in ("posted", "pending", "duplicate", "quarantined")}
        if events != sum(outcomes.values()):
            raise AssertionError(f"outcomes do not add up: {events} events, {outcomes}")
        if "events" in manifest and events != manifest["events"]:
            raise AssertionError(f"{manifest['events']} events were generated but {events} were ingested")
        with psycopg.connect(dsns.dsn) as conn:
            tx_count, entry_count = conn.execute(
                "SELECT (SELECT count(*) FROM ledger.transactions), (SELECT count(*) FROM ledger.entries)").fetchone()

        transactions, entries = ledger_rows(dsns.dsn)
        copies = timed_copies(dsns.dsn, superuser, transactions, entries)
        plain_seconds = copies["plain"]
        load_after = os.getloadavg()
        stages = stage_totals(reports)
        result = {
            "data": {"folder": str(folder), "files": len(files), "bytes": size, "subscriptions": args.subscriptions,
                     "months": args.months, "seed": args.seed, "generated_seconds": generated_seconds},
            "server": server, "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_average_before": load_before, "load_average_after": load_after,
            "overlap": not args.no_overlap, "events": events, "outcomes": outcomes, "transactions": tx_count, "entries": entry_count,
            "ingest_seconds": seconds, "events_per_second": events / seconds, "entries_per_second": entry_count / seconds,
            "plain_copy_seconds": plain_seconds, "plain_copy_entries_per_second": entry_count / plain_seconds,
            "ingest_over_plain_copy": plain_seconds / seconds,
            "indexed_copy_seconds": copies["indexed"], "ingest_over_indexed_copy": copies["indexed"] / seconds,
            "indexed_copy_split": {"transactions": copies["indexed.transactions"], "entries": copies["indexed.entries"]},
            "stages": stages, "batches": [
                {"file": Path(r.source_name).name, "events": r.events, "seconds": r.seconds, "timings": r.timings}
                for r in reports
            ],
        }
        print_report(result)
        return result


def print_report(r: dict) -> None:
    print(f"\nIngestion end to end: {r['events']:,} events in {r['data']['files']} files "
          f"({r['data']['bytes'] / 1e6:,.1f} MB) -> {r['transactions']:,} transactions, {r['entries']:,} entries")
    print("outcomes: " + ", ".join(f"{k} {v:,}" for k, v in r["outcomes"].items())
          + f"; front end of file N+1 overlapping the write of file N: {'yes' if r['overlap'] else 'no'}")
    print(f"{'path':<58} {'seconds':>8} {'events/s':>10} {'entries/s':>11} {'vs plain':>9} {'vs indexed':>11}")
    lines = [
        ("subledger ingest (file -> posted ledger, to COMMIT)", r["ingest_seconds"]),
        ("plain COPY of the same rows (no index/constraint/trigger)", r["plain_copy_seconds"]),
        ("COPY of the same rows, ledger indexes, no trigger/constraint", r["indexed_copy_seconds"]),
    ]
    for label, seconds in lines:
        print(f"{label:<58} {seconds:>8.2f} {r['events'] / seconds:>10,.0f} {r['entries'] / seconds:>11,.0f} "
              f"{r['plain_copy_seconds'] / seconds:>9.2f} {r['indexed_copy_seconds'] / seconds:>11.2f}")
    split, stages = r["indexed_copy_split"], r["stages"]
    print(f"\nThe same tables COPYed: the floor's one COPY per table (transactions {split['transactions']:.2f} s, entries "
          f"{split['entries']:.2f} s) against ingestion's COPYs with their triggers, summed over the batches (transactions "
          f"{stages.get('db.apply_plan.write.copy_transactions', 0):.2f} s, entries {stages.get('db.apply_plan.write.copy_entries', 0):.2f} s)")
    print(f"\nWhere the ingestion's time went (summed over the {r['data']['files']} batches"
          + ("; with overlap the front end runs beside the writes, so the shares add up to more than 100%)" if r["overlap"] else ")"))
    print(f"{'stage':<62} {'seconds':>8} {'share':>6}")
    for name, seconds in summarise_stages(r["stages"], r["ingest_seconds"]):
        print(f"{name:<62} {seconds:>8.2f} {seconds / r['ingest_seconds']:>6.0%}")
    print(f"\nload average before / after: {r['load_average_before'][0]:.1f} / {r['load_average_after'][0]:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscriptions", type=int, default=9_000, help="generator size (9,000 x 12 months ~ 1M events)")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where generated files are cached")
    parser.add_argument("--quick", action="store_true", help=f"a small run ({QUICK['subscriptions']} x {QUICK['months']})")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cluster (prints where)")
    parser.add_argument("--no-overlap", action="store_true",
                        help="prepare each file only after the previous one is written (no front-end/write overlap)")
    args = parser.parse_args(argv)
    if args.quick:
        args.subscriptions, args.months = QUICK["subscriptions"], QUICK["months"]
    result = run(args)
    write_results("ingest", {"args": {k: str(v) for k, v in vars(args).items()}, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
