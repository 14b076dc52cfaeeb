"""``subledger workers -n N``: N worker processes draining the outbox, and their supervisor.

A **worker** is one process with one writer connection (``application_name`` ``subledger-worker-<n>``,
which the metrics and the Dagster sensor count) running :class:`~ledger_pipelines.service.queue.Consumer`
steps: claim, post, mark done; when nothing is waiting it looks again every
``SUBLEDGER_QUEUE_POLL_SECONDS``. SIGTERM lets it finish the batch in hand and exit; a lost
database connection is retried with a growing pause. Killing it at any point is safe (queue.py).

The **supervisor** (the ``subledger workers`` process) starts the database if needed, starts the
workers, starts a worker again when one dies (a pause grows if it keeps dying at once), deletes
processed outbox rows older than ``SUBLEDGER_OUTBOX_RETENTION_HOURS`` every minute, and on
SIGTERM or Ctrl-C stops the workers gracefully (SIGKILL after ``STOP_GRACE_SECONDS``).

Scaling out: workers on other machines are the same command pointed at the same database
(``SUBLEDGER_DATABASE_URL``); lanes are claimed in the database, so any number of supervisors
may run (docs/recording-service.md).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import psycopg

from ledger_pipelines.config import Settings, load_settings
from ledger_pipelines.ingest.ingestor import Ingestor, ingestor
from ledger_pipelines.ingest.rules import load_rules
from ledger_pipelines.postgres.database import connect, database_dsns
from ledger_pipelines.service.queue import ClaimFailed, Consumer, prune
from ledger_pipelines.service.settings import ServiceSettings, load_service_settings

LOG = logging.getLogger(__name__)
APPLICATION_NAME = "subledger-worker-{number}"
STOP_GRACE_SECONDS = 30.0
PRUNE_EVERY_SECONDS = 60.0
QUICK_DEATH_SECONDS = 5.0
MAX_RECONNECT_PAUSE = 30.0


class _Stop:
    """Set by SIGTERM (and SIGINT when run alone): finish the batch in hand, then exit."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, *_args) -> None:
        self.requested = True


def run_worker(number: int, settings: Settings, service: ServiceSettings, stop: _Stop) -> None:
    """One worker's loop (module docs) until ``stop.requested``."""
    dsns = database_dsns(settings)
    rules = load_rules(settings.rules_path)
    pause = 0.5
    while not stop.requested:
        try:
            with connect(dsns.writer_dsn, autocommit=True, application_name=APPLICATION_NAME.format(number=number)) as conn:
                consumer = Consumer(Ingestor(settings, conn, rules), service, name=f"worker {number}")
                pause = 0.5
                while not stop.requested:
                    try:
                        report = consumer.step()
                    except ClaimFailed:
                        continue  # recorded on the rows; they come back as smaller claims
                    if report is None:
                        time.sleep(service.poll_seconds)
        except psycopg.OperationalError as exc:
            LOG.warning("worker %s: database connection lost (%s); reconnecting in %.1f s", number, exc, pause)
            time.sleep(pause)
            pause = min(MAX_RECONNECT_PAUSE, pause * 2)


def worker_main(number: int) -> int:
    """Entry point of a worker process (``python -m ledger_pipelines.service.workers N``)."""
    from ledger_pipelines.logging import configure_logging

    configure_logging()
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the supervisor decides
    settings = load_settings()
    run_worker(number, settings, load_service_settings(settings), stop)
    return 0


@dataclass
class _Child:
    number: int
    process: subprocess.Popen | None = None
    started: float = 0.0
    quick_deaths: int = 0
    start_after: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "ledger_pipelines.service.workers", str(self.number)])
        self.started = time.monotonic()
        LOG.info("worker %s started (pid %s)", self.number, self.process.pid)


@dataclass
class Supervisor:
    """Starts, restarts and stops ``workers`` worker processes; prunes the outbox (module docs)."""

    settings: Settings
    workers: int
    service: ServiceSettings = field(init=False)
    children: list[_Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.service = load_service_settings(self.settings)

    def run(self, stop: _Stop) -> int:
        with ingestor(self.settings):  # starts and migrates the database, adds the rules' account types
            pass
        dsns = database_dsns(self.settings)
        self.children = [_Child(number) for number in range(1, self.workers + 1)]
        for child in self.children:
            child.start()
        next_prune = time.monotonic()
        try:
            while not stop.requested:
                now = time.monotonic()
                for child in self.children:
                    self._watch(child, now)
                if now >= next_prune:
                    self._prune(dsns.writer_dsn)
                    next_prune = now + PRUNE_EVERY_SECONDS
                time.sleep(0.2)
        finally:
            self._stop_all()
        return 0

    def _watch(self, child: _Child, now: float) -> None:
        if child.process is not None:
            code = child.process.poll()
            if code is None:
                return
            lived = now - child.started
            child.quick_deaths = child.quick_deaths + 1 if lived < QUICK_DEATH_SECONDS else 0
            pause = min(MAX_RECONNECT_PAUSE, 0.5 * 2 ** child.quick_deaths) if child.quick_deaths else 0.0
            LOG.warning("worker %s (pid %s) exited with %s after %.1f s; starting it again%s", child.number,
                        child.process.pid, code, lived, f" in {pause:.1f} s" if pause else "")
            child.process = None
            child.start_after = now + pause
        if now >= child.start_after:
            child.start()

    def _prune(self, writer_dsn: str) -> None:
        try:
            with connect(writer_dsn, autocommit=True, application_name="subledger-prune") as conn:
                removed = prune(conn, self.service.retention_hours)
        except psycopg.OperationalError as exc:
            LOG.warning("could not prune the outbox (%s); trying again in a minute", exc)
            return
        if removed:
            LOG.info("pruned %s outbox rows processed more than %g h ago", removed, self.service.retention_hours)

    def _stop_all(self) -> None:
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                LOG.warning("worker pid %s did not stop within %.0f s; killing it", process.pid, STOP_GRACE_SECONDS)
                process.kill()
                process.wait()


def supervise(settings: Settings, workers: int) -> int:
    """Run the supervisor until SIGTERM or Ctrl-C (``subledger workers``)."""
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return Supervisor(settings, workers).run(stop)


if __name__ == "__main__":
    sys.exit(worker_main(int(sys.argv[1])))
