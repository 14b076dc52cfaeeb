"""``subledger workers`` as real processes: kill -9 while producers insert loses and doubles nothing,
each subscription's events post in order, the supervisor starts killed workers again, and the
queue's depth and age show at ``/metrics`` while events wait."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path

import psycopg

from ledger_pipelines.service.workers import QUICK_DEATH_SECONDS
from tests.service.conftest import credit_events, insert_envelopes, outcomes, wait_until, waiting_rows


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (the supervisor's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def worker_number(pid: int) -> int | None:
    """The worker number of a ``python -m ledger_pipelines.service.workers N`` process."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return None
    return int(argv[-2]) if len(argv) > 2 and argv[-3] == b"ledger_pipelines.service.workers" else None


def metric(text: str, name: str) -> float:
    (value,) = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")]
    return value


def test_workers_killed_mid_batch_lose_and_double_nothing_and_keep_each_subscriptions_order(api, ledger_db, workers):
    # events wait: depth and the oldest event's age are visible before any worker runs
    insert_envelopes(ledger_db.writer_dsn, credit_events("early", 50, 50))
    time.sleep(1.1)
    scraped = api.call("GET", "/metrics", scope="read").text
    assert metric(scraped, "subledger_outbox_depth") == 2
    assert metric(scraped, "subledger_outbox_oldest_age_seconds") >= 1.0

    # The killer below aims at workers that are posting, so it also kills the lone retries of the rows
    # it interrupted; three such deaths would set a good event aside as poison (the signature of an
    # event that kills its worker, tested in test_queue.py). Here only loss, doubles and order count.
    supervisor = workers(2, env={"SUBLEDGER_QUEUE_BATCH": "50", "SUBLEDGER_QUEUE_POLL_SECONDS": "0.05",
                                 "SUBLEDGER_QUEUE_MAX_TRIES": "1000"})
    sent: list[dict] = credit_events("early", 50, 50)
    producing = threading.Event()
    producing.set()
    problems: list[BaseException] = []

    def produce(name: str) -> None:
        """Grants, then their guarded applications in a later transaction, other producers' events in
        between: an application posted before its grant would be quarantined (balance_condition_failed)."""
        n = 0
        try:
            with psycopg.connect(ledger_db.writer_dsn, autocommit=True) as conn:
                while producing.is_set():
                    pairs = [credit_events(f"{name}{n}-{k}", 100 + k, 100 + k) for k in range(10)]
                    for half in ([grant for grant, _ in pairs], [apply for _, apply in pairs]):
                        with conn.transaction(), conn.cursor() as cur:
                            cur.executemany("INSERT INTO ingest.outbox (envelope) VALUES (%s)", [[json.dumps(e)] for e in half])
                    sent.extend(e for pair in pairs for e in pair)
                    n += 1
                    time.sleep(0.5)
        except BaseException as exc:  # noqa: BLE001 - reported below
            problems.append(exc)

    producers = [threading.Thread(target=produce, args=(name,)) for name in ("p", "q")]
    for thread in producers:
        thread.start()
    # kill -9 a worker every few seconds, once it has lived past the supervisor's quick-death
    # backoff (QUICK_DEATH_SECONDS) and while its connection is inside a transaction (posting)
    kills, interrupted, started, born = 0, 0, time.monotonic(), {}
    with psycopg.connect(ledger_db.dsn, autocommit=True) as watcher:
        try:
            while time.monotonic() - started < 120 and (kills < 6 or interrupted == 0):
                time.sleep(0.01)
                now = time.monotonic()
                running = {pid: worker_number(pid) for pid in children(supervisor.pid)}
                for pid in running:
                    born.setdefault(pid, now + random.uniform(0, 1.5))
                posting = {int(name.rsplit("-", 1)[1]) for (name,) in watcher.execute(
                    "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'subledger-worker-%' "
                    "AND xact_start IS NOT NULL AND state <> 'idle'")}
                ripe = [pid for pid, n in running.items() if n in posting and now - born[pid] > QUICK_DEATH_SECONDS + 0.5]
                if not ripe:
                    continue
                os.kill(ripe[0], signal.SIGKILL)
                kills += 1
                interrupted = watcher.execute("SELECT count(*) FROM ingest.outbox WHERE tries > 1").fetchone()[0]
        finally:
            producing.clear()
            for thread in producers:
                thread.join(30)
    assert not problems
    assert supervisor.poll() is None, "the supervisor itself must survive its workers' deaths"
    assert interrupted > 0, f"none of {kills} kills landed in the middle of a batch"
    wait_until(lambda: waiting_rows(ledger_db.dsn) == 0, 180, "the workers to post every event")

    assert outcomes(ledger_db.dsn) == {e["event_id"]: ["posted"] for e in sent}  # each once, none quarantined
    with psycopg.connect(ledger_db.dsn) as conn:
        doubled = conn.execute("SELECT count(*) FROM (SELECT source_event_id FROM ledger.transactions "
                               "GROUP BY source_event_id HAVING count(*) > 1) d").fetchone()[0]
        transactions = conn.execute("SELECT count(*) FROM ledger.transactions").fetchone()[0]
        sources = {r[0] for r in conn.execute("SELECT source_event_id FROM ledger.transactions")}
    assert doubled == 0 and transactions == len(sent)
    assert sources == {e["event_id"] for e in sent}
    wait_until(lambda: len(children(supervisor.pid)) == 2, 30, "the supervisor to start its killed workers again")
    scraped = api.call("GET", "/metrics", scope="read").text
    assert metric(scraped, "subledger_outbox_depth") == 0 and metric(scraped, "subledger_outbox_oldest_age_seconds") == 0
    assert metric(scraped, "subledger_outbox_processed_5m") >= len(sent)
