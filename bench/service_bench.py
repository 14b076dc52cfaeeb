"""Recording-service benchmark: events/s through the outbox with 1, 2, 4 workers and through the API,
against the single-consumer path, in one run; lag under a steady load; a crash run.

Run: ``.venv/bin/python -m bench.service_bench`` (``--events`` per throughput case, default 20,000;
``--quick`` for a small look). It starts its own embedded Postgres (default durability) and

1. **single consumer**: N events inserted into ``ingest.outbox`` in one transaction, then posted by
   one in-process consumer -- (a) in one uncapped claim, as the old outbox read took everything in
   one batch, and (b) by :func:`ledger_pipelines.service.queue.drain` in batches of
   ``SUBLEDGER_QUEUE_BATCH`` (what ``subledger run`` and the Dagster asset do now);
2. **workers**: ``subledger workers -n K`` (real processes) for K = 1, 2, 4, started and connected
   first; N events inserted in one transaction; timed from that commit until none waits;
3. **API**: ``subledger serve`` plus 2 workers; 4 client threads POST ``/v1/events/batch`` (500
   events a request); timed from the first request until every event is posted (and the intake
   rate alone: until the last 202);
4. **lag**: a steady producer (``--rate`` events/s for ``--seconds``) with 2 workers; the
   enqueue-to-posted lag (p50/p95/max, from the processed rows) and the largest queue depth seen;
5. **crash**: the same steady producer while a worker is killed with SIGKILL every ``--kill-every`` s
   (default 3); at the end every event must have exactly one outcome, ``posted``, and one transaction.

Events are ``invoice.issued`` over 2,000 subscriptions (so they spread over the 64 lanes). The
table prints events/s, the ratio to the single consumer (a), and events/s per CPU core. Numbers go
to ``bench/results/service-*.json``; the cluster is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from bench.harness import describe_server, server_facts, temporary_cluster, write_results

SUBSCRIPTIONS = 2_000
API_BATCH = 500
API_CLIENTS = 4


def events(prefix: str, count: int) -> list[str]:
    """``count`` invoice events as JSON lines (the envelope the API receives)."""
    return [json.dumps({
        "event_id": f"{prefix}-{n}", "event_type": "invoice.issued", "effective_at": "2024-05-01T00:00:00Z",
        "subscription_id": f"sub_{n % SUBSCRIPTIONS}", "customer_id": f"cus_{n % SUBSCRIPTIONS}", "amount": 1000 + n % 97,
        "currency": "USD", "payload": {"invoice_id": f"inv_{prefix}_{n}", "plan_id": "pro", "period_start": "2024-05-01",
                                       "period_end": "2024-05-31"}}) for n in range(count)]


def enqueue(dsn: str, lines: list[str]) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO ingest.outbox (envelope) VALUES (%s)", [[line] for line in lines])


def waiting(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM ingest.outbox WHERE processed_at IS NULL").fetchone()[0]


def wait_for(condition: Callable[[], bool], timeout: float = 1800, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out: the queue did not drain (see the workers' log above)")
        time.sleep(step)


def workers_connected(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'subledger-worker-%'"
                            ).fetchone()[0]


def subledger(*args: str) -> list[str]:
    return [sys.executable, "-m", "ledger_pipelines.cli", *args]


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_workers(count: int, dsn: str, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(subledger("workers", "-n", str(count)), env=env, stderr=subprocess.DEVNULL)
    wait_for(lambda: workers_connected(dsn) == count, 120, 0.2)
    return process


def single_consumer(settings, dsn: str, count: int, batch: int | None) -> float:
    """Events/s of one in-process consumer: one claim of everything (``batch`` None) or drain()."""
    from ledger_pipelines.service.queue import drain
    from ledger_pipelines.service.settings import ServiceSettings

    enqueue(dsn, events(f"single{batch}", count))
    started = time.perf_counter()
    drain(settings, service=ServiceSettings(batch_size=batch or count))
    return count / (time.perf_counter() - started)


def through_workers(dsn: str, env: dict[str, str], count: int, workers: int) -> float:
    process = start_workers(workers, dsn, env)
    try:
        lines = events(f"w{workers}", count)
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO ingest.outbox (envelope) VALUES (%s)", [[line] for line in lines])
            conn.commit()
            started = time.perf_counter()
        wait_for(lambda: waiting(dsn) == 0)
        return count / (time.perf_counter() - started)
    finally:
        stop(process)


def through_api(dsn: str, owner_dsn: str, env: dict[str, str], count: int) -> tuple[float, float]:
    """(intake events/s until the last 202, end-to-end events/s until posted) with 2 workers."""
    import httpx

    from ledger_pipelines.service.keys import create_key

    with psycopg.connect(owner_dsn, autocommit=True) as conn:  # keys are the owner's to create
        key, _ = create_key(conn, "bench", "write")
    port = 18480 + random.randrange(1000)
    server = subprocess.Popen(subledger("serve", "--port", str(port)), env=env, stderr=subprocess.DEVNULL)
    process = start_workers(2, dsn, env)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                return httpx.get(base + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 120, 0.2)
        lines = events("api", count)
        bodies = [('{"events": [' + ",".join(lines[i:i + API_BATCH]) + "]}").encode() for i in range(0, count, API_BATCH)]
        failures: list[str] = []

        def client(mine: list[bytes]) -> None:
            with httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {key}",
                                                                   "Content-Type": "application/json"}) as http:
                for body in mine:
                    response = http.post("/v1/events/batch", content=body)
                    if response.status_code != 202:
                        failures.append(response.text[:200])

        threads = [threading.Thread(target=client, args=(bodies[i::API_CLIENTS],)) for i in range(API_CLIENTS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        accepted = time.perf_counter() - started
        if failures:
            raise SystemExit(f"the API refused a batch: {failures[0]}")
        wait_for(lambda: waiting(dsn) == 0)
        return count / accepted, count / (time.perf_counter() - started)
    finally:
        stop(process)
        stop(server)


def steady(dsn: str, env: dict[str, str], rate: int, seconds: float, prefix: str, kill_every: float | None) -> dict:
    """A producer at ``rate`` events/s (100 ms ticks) with 2 workers; SIGKILL one every ``kill_every`` s."""
    process = start_workers(2, dsn, env)
    sent: list[str] = []
    depth_max, kills = 0, 0
    try:
        started = time.monotonic()
        next_kill = started + (kill_every or 1e9)
        tick = 0
        with psycopg.connect(dsn, autocommit=True) as conn:
            while time.monotonic() - started < seconds:
                lines = events(f"{prefix}{tick}", rate // 10)
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany("INSERT INTO ingest.outbox (envelope) VALUES (%s)", [[line] for line in lines])
                sent.extend(json.loads(line)["event_id"] for line in lines)
                depth_max = max(depth_max, conn.execute(
                    "SELECT count(*) FROM ingest.outbox WHERE processed_at IS NULL").fetchone()[0])
                if time.monotonic() >= next_kill:
                    kills += _kill_one_worker(process.pid)
                    next_kill += kill_every
                tick += 1
                time.sleep(max(0.0, started + tick * 0.1 - time.monotonic()))
        wait_for(lambda: waiting(dsn) == 0)
    finally:
        stop(process)
    with psycopg.connect(dsn) as conn:
        lag = conn.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - inserted_at)),"
            "       max(extract(epoch FROM processed_at - inserted_at))"
            "  FROM ingest.outbox WHERE event_id LIKE %s", [prefix + "%"]).fetchone()
        outcomes = dict(conn.execute(
            "SELECT outcome, count(*) FROM ingest.events WHERE event_id LIKE %s GROUP BY 1", [prefix + "%"]).fetchall())
        transactions = conn.execute("SELECT count(*), count(DISTINCT source_event_id) FROM ledger.transactions "
                                    "WHERE source_event_id LIKE %s", [prefix + "%"]).fetchone()
    return {"sent": len(sent), "kills": kills, "depth_max": depth_max, "lag_p50_s": float(lag[0][0]),
            "lag_p95_s": float(lag[0][1]), "lag_max_s": float(lag[1]), "outcomes": outcomes,
            "transactions": transactions[0], "distinct_events_posted": transactions[1],
            "exactly_once": outcomes == {"posted": len(sent)} and transactions == (len(sent), len(sent))}


def _kill_one_worker(supervisor: int) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == supervisor and fields[0] != "Z":
                os.kill(int(entry.name), signal.SIGKILL)
                return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per throughput case")
    parser.add_argument("--rate", type=int, default=500, help="events/s of the steady producer (lag and crash runs)")
    parser.add_argument("--seconds", type=float, default=20, help="length of the lag and crash runs")
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between two SIGKILLs in the crash run")
    parser.add_argument("--quick", action="store_true", help="2,000 events a case, 8 s runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.seconds = 2_000, 8
    cores = os.cpu_count() or 1
    with temporary_cluster("subledger-service-bench-") as bench:
        dsns = bench.start()
        from ledger_pipelines.ingest.ingestor import ingestor

        with ingestor(bench.settings):  # the rules' account types, as `subledger workers` does
            pass
        env = {**os.environ, "SUBLEDGER_HOME": str(bench.home), "SUBLEDGER_DATABASE_URL": dsns.dsn}
        os.environ.update(SUBLEDGER_HOME=str(bench.home), SUBLEDGER_DATABASE_URL=dsns.dsn)
        server = server_facts(bench.superuser_dsn())
        print(describe_server(server), flush=True)
        rows: list[tuple[str, float]] = []
        rows.append(("single consumer, one uncapped claim (the old outbox read)",
                     single_consumer(bench.settings, dsns.writer_dsn, args.events, None)))
        rows.append(("single consumer, drain() in batches (subledger run / Dagster)",
                     single_consumer(bench.settings, dsns.writer_dsn, args.events, 1000)))
        for count in (1, 2, 4):
            rows.append((f"outbox inserts -> subledger workers -n {count}", through_workers(dsns.writer_dsn, env, args.events, count)))
        for name, rate in rows:
            print(f"  {name}: {rate:,.0f} events/s", flush=True)
        intake, end_to_end = through_api(dsns.writer_dsn, dsns.dsn, env, args.events)
        rows.append((f"API intake only ({API_CLIENTS} clients, {API_BATCH}/request, until the last 202)", intake))
        rows.append(("API -> 2 workers, end to end (until posted)", end_to_end))
        base = rows[0][1]
        print(f"\n{args.events:,} events per case\n")
        print(f"{'path':<72} {'events/s':>10} {'vs (a)':>7} {'per core':>9}")
        for name, rate in rows:
            print(f"{name:<72} {rate:>10,.0f} {rate / base:>7.2f} {rate / cores:>9,.0f}")
        lag = steady(dsns.writer_dsn, env, args.rate, args.seconds, "lag", None)
        crash = steady(dsns.writer_dsn, env, args.rate, args.seconds, "crash", args.kill_every)
        print(f"\nsteady load, {args.rate} events/s for {args.seconds:g} s, 2 workers")
        print(f"{'run':<10} {'sent':>7} {'kills':>6} {'depth max':>10} {'lag p50 s':>10} {'lag p95 s':>10} {'lag max s':>10}"
              f" {'exactly once':>13}")
        for name, run in (("steady", lag), ("crash", crash)):
            print(f"{name:<10} {run['sent']:>7,} {run['kills']:>6} {run['depth_max']:>10,} {run['lag_p50_s']:>10.2f}"
                  f" {run['lag_p95_s']:>10.2f} {run['lag_max_s']:>10.2f} {str(run['exactly_once']):>13}")
        load = os.getloadavg()
        print(f"\nload average at the end: {load[0]:.1f} (1 min), {cores} cores")
        write_results("service", {"server": server, "cores": cores, "events": args.events,
                                  "throughput": dict(rows), "steady": lag, "crash": crash, "load_average": load})
        if not crash["exactly_once"]:
            raise SystemExit("the crash run lost or doubled events: " + json.dumps(crash))


if __name__ == "__main__":
    main()
