"""Years of history: does `subledger run` cost follow the data or the calendar? (issue 13)

The same small ledger -- ``--events`` balanced journal events (two legs each) over a few
accounts in two currencies, some pending and settled later -- is spread evenly over 1, 3 and 9
years of history ending last month, with ``SUBLEDGER_START_DATE`` at its first day. For each
length, in a fresh home (embedded Postgres at default durability, the platform's Postgres-backed
Dagster instance, DuckDB, dbt), the real command line runs:

1. **first run**: ``subledger run`` after the file landed (ingestion, mirror, snapshots, checks,
   reports, exports);
2. **restatement run**: ``subledger run`` after a second file with a few events dated 8/9 of the
   history back (8 years back on the 9-year ledger) landed.

Printed per run: wall seconds, the rows the run added to Dagster's event log (the
per-partition bookkeeping the issue measured at 6,557 + 6,557 records for one run of a 9-year
daily-partitioned ledger), and the ratio of each length to the 1-year ledger. ``--rounds N``
repeats the three lengths N times, interleaved, and reports the best wall time per cell (this
2-core machine is shared and noisy; ratios within a round are what hold).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from bench.harness import temporary_cluster, write_results

SUBLEDGER = str(Path(sys.executable).parent / "subledger")
# (debit, credit) pairs of an ordinary business: sales, collections, costs, capital. None takes a
# balance the reports' tests hold non-negative (customer credits) below zero.
FLOWS = [("assets:receivables:a", "revenue:services"), ("assets:receivables:b", "revenue:services"),
         ("assets:cash:operating", "revenue:services"), ("expenses:hosting", "liabilities:payables"),
         ("assets:cash:operating", "equity:capital"), ("expenses:salaries", "assets:cash:operating")]
QUICK_ARGV = ["--events", "400", "--years", "1,9", "--rounds", "1"]


@dataclass(frozen=True)
class RunFigures:
    seconds: float
    event_log_rows: int
    returncode: int
    steps: dict[str, float]  # seconds per Dagster step (asset or check), from the event log


def _events(count: int, first: date, last: date, seed: int, prefix: str) -> list[dict]:
    """Balanced two-leg journal events (:data:`FLOWS`) spread evenly over ``first..last``; a tenth pending,
    settled a day later."""
    rng = random.Random(seed)
    span = (last - first).days
    out = []
    for n in range(count):
        day = first + timedelta(days=span * n // max(count - 1, 1))
        at = datetime(day.year, day.month, day.day, rng.randint(0, 23), rng.randint(0, 59), tzinfo=UTC)
        debit, credit = rng.choice(FLOWS)
        amount = rng.randint(1, 100_000)
        currency = rng.choice(["USD", "EUR"])
        status = "pending" if n % 10 == 0 else "posted"
        event_id = f"{prefix}-{n}"
        out.append({"event_id": event_id, "event_type": "journal.posted", "effective_at": at.isoformat(),
                    "payload": {"status": status, "legs": [
                        {"account": debit, "direction": "debit", "amount": amount, "currency": currency},
                        {"account": credit, "direction": "credit", "amount": amount, "currency": currency}]}})
        if status == "pending":
            settle = at + timedelta(days=1)
            out.append({"event_id": f"{event_id}-settled", "event_type": "transaction.posted",
                        "effective_at": settle.isoformat(), "payload": {"target_event_id": event_id}})
    return out


def _write(path: Path, events: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text("".join(json.dumps(e) + "\n" for e in events))
    tmp.replace(path)


def _event_log_position(dagster_dsn: str) -> tuple[int, int]:
    """(rows, highest id) of Dagster's event log."""
    with psycopg.connect(dagster_dsn) as conn:
        exists = conn.execute("SELECT to_regclass('public.event_logs') IS NOT NULL").fetchone()[0]
        if not exists:
            return 0, 0
        rows, high = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM event_logs").fetchone()
        return int(rows), int(high)


def _step_seconds(dagster_dsn: str, after_id: int) -> dict[str, float]:
    """Seconds per step of the runs logged after ``after_id`` (STEP_START to STEP_SUCCESS/FAILURE)."""
    with psycopg.connect(dagster_dsn) as conn:
        rows = conn.execute(
            "SELECT step_key, dagster_event_type, extract(epoch FROM timestamp) FROM event_logs WHERE id > %s "
            "AND dagster_event_type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') ORDER BY id", [after_id]).fetchall()
    started: dict[str, float] = {}
    out: dict[str, float] = {}
    for step, kind, at in rows:
        if kind == "STEP_START":
            started[step] = float(at)
        elif step in started:
            out[step] = out.get(step, 0.0) + float(at) - started.pop(step)
    return out


def _run(env: dict[str, str], dagster_dsn: str, log: Path) -> RunFigures:
    before, high = _event_log_position(dagster_dsn)
    started = time.perf_counter()
    with open(log, "ab") as out:
        done = subprocess.run([SUBLEDGER, "run"], env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - started
    rows, _ = _event_log_position(dagster_dsn)
    return RunFigures(seconds, rows - before, done.returncode, _step_seconds(dagster_dsn, high))


def one_history(years: int, events: int, seed: int) -> dict:
    """A fresh home with ``events`` events over ``years`` years: the first run, then a restatement run."""
    last = date.today().replace(day=1) - timedelta(days=1)
    first = date(last.year - years, last.month, 1) + timedelta(days=31)
    first = first.replace(day=1)
    with temporary_cluster(f"subledger-history-{years}y-") as bench:
        dsns = bench.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SUBLEDGER_", "DAGSTER_"))}
        env.update({"SUBLEDGER_HOME": str(bench.home), "SUBLEDGER_START_DATE": first.isoformat(),
                    "PATH": env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"})
        log = bench.home / "runs.log"
        _write(bench.settings.landing_dir / "history.jsonl", _events(events, first, last, seed, "h"))
        first_run = _run(env, dsns.dagster_dsn, log)
        back = last - timedelta(days=(last - first).days * 8 // 9)
        _write(bench.settings.landing_dir / "backdated.jsonl", _events(5, back, back + timedelta(days=2), seed + 1, "late"))
        restatement = _run(env, dsns.dagster_dsn, log)
        if first_run.returncode or restatement.returncode:
            print(log.read_text()[-4000:])
        return {"years": years, "first_day": first.isoformat(), "backdated_to": back.isoformat(),
                "first_run": first_run.__dict__, "restatement_run": restatement.__dict__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000, help="journal events in the ledger (two entries each)")
    parser.add_argument("--years", default="1,3,9", help="history lengths, comma-separated; the first is the baseline")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    lengths = [int(y) for y in args.years.split(",")]
    measured: dict[int, list[dict]] = {y: [] for y in lengths}
    for round_number in range(1, args.rounds + 1):
        for years in lengths:
            print(f"round {round_number}: {years} year(s) of history, {args.events} events ...", flush=True)
            measured[years].append(one_history(years, args.events, args.seed))
    best = {y: {kind: min((m[kind] for m in runs), key=lambda r: r["seconds"]) for kind in ("first_run", "restatement_run")}
            for y, runs in measured.items()}
    base = best[lengths[0]]
    failed = any(m[kind]["returncode"] for runs in measured.values() for m in runs for kind in ("first_run", "restatement_run"))
    print(f"\n`subledger run` on {args.events} events (~{2 * args.events} entries), best of {args.rounds} round(s)")
    print(f"{'history':>8} {'first run s':>12} {'vs base':>8} {'event rows':>11} {'restate s':>10} {'vs base':>8} {'event rows':>11}")
    for years in lengths:
        f, r = best[years]["first_run"], best[years]["restatement_run"]
        print(f"{years:>6} y {f['seconds']:>12.1f} {f['seconds'] / base['first_run']['seconds']:>8.2f} {f['event_log_rows']:>11,} "
              f"{r['seconds']:>10.1f} {r['seconds'] / base['restatement_run']['seconds']:>8.2f} {r['event_log_rows']:>11,}")
    print("\nwhere the time goes (seconds per step, best round; steps over 1 s in any length)")
    steps = sorted({s for y in lengths for kind in ("first_run", "restatement_run") for s, t in best[y][kind]["steps"].items()
                    if t >= 1.0})
    header = "".join(f"{f'{y} y first':>11}{f'{y} y rest.':>11}" for y in lengths)
    print(f"{'step':<58}{header}")
    for step in steps:
        cells = "".join(f"{best[y][kind]['steps'].get(step, 0.0):>11.1f}" for y in lengths for kind in ("first_run", "restatement_run"))
        print(f"{step[:57]:<58}{cells}")
    write_results("history", {"events": args.events, "rounds": measured, "best": best})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
