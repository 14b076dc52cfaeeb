"""Recording-service fixtures: a home whose ledger is the per-test database, outbox helpers,
a real ``subledger serve`` on a free port, real worker processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from ledger_pipelines.config import Settings, load_settings

ENVELOPE_COLUMNS = ("event_id", "event_type", "effective_at", "recorded_at", "subscription_id", "customer_id", "amount",
                    "currency", "payload", "metadata")


@pytest.fixture
def service_env(ledger_db, monkeypatch) -> Iterator[Settings]:
    """Settings pointing at the per-test database (as an external server) and an empty home."""
    home = Path(tempfile.mkdtemp(prefix="subledger-service-"))
    home.chmod(0o755)
    monkeypatch.setenv("SUBLEDGER_HOME", str(home))
    monkeypatch.setenv("SUBLEDGER_DATABASE_URL", ledger_db.dsn)
    yield load_settings()
    shutil.rmtree(home, ignore_errors=True)


def insert_envelopes(dsn: str, events: list[dict]) -> list[int]:
    """The application's way: each event as one JSON line in ingest.outbox.envelope, one transaction."""
    with psycopg.connect(dsn) as conn:
        return [conn.execute("INSERT INTO ingest.outbox (envelope) VALUES (%s) RETURNING outbox_id",
                             [json.dumps(e)]).fetchone()[0] for e in events]


def credit_events(subscription: str, granted: int, applied: int) -> list[dict]:
    """A grant, then an application guarded by 'customer credits available >= 0': fails if run first."""
    base = {"subscription_id": subscription, "customer_id": "c_" + subscription, "currency": "USD",
            "effective_at": "2024-05-01T00:00:00Z"}
    return [
        {**base, "event_id": f"{subscription}-grant", "event_type": "credit.granted", "amount": granted,
         "payload": {"credit_id": f"cr_{subscription}", "reason": "goodwill"}},
        {**base, "event_id": f"{subscription}-apply", "event_type": "credit.applied", "amount": applied,
         "payload": {"credit_id": f"cr_{subscription}", "invoice_id": f"inv_{subscription}"}},
    ]


def outcomes(dsn: str) -> dict[str, list[str]]:
    """event_id -> every outcome recorded for it (posted/pending/duplicate/quarantined:<reason>)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT event_id, outcome, reason_code FROM ingest.events ORDER BY event_id").fetchall()
    found: dict[str, list[str]] = {}
    for event_id, outcome, reason in rows:
        found.setdefault(event_id, []).append(f"{outcome}:{reason}" if reason else outcome)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subledger(*args: str) -> list[str]:
    return [sys.executable, "-m", "ledger_pipelines.cli", *args]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def waiting_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM ingest.outbox WHERE processed_at IS NULL").fetchone()[0]


def stop_process(process: subprocess.Popen, timeout: float = 60) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def start_process(service_env) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start a ``subledger`` command (or any argv) in the test's environment; stopped afterwards."""
    started: list[subprocess.Popen] = []

    def start(argv: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(argv, env={**os.environ, **(env or {})}, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process(process)


class Api:
    """A running ``subledger serve`` and keys of each scope."""

    def __init__(self, base: str, keys: dict[str, str]):
        import httpx

        self.base = base
        self.keys = keys
        self.client = httpx.Client(base_url=base, timeout=30)

    def call(self, method: str, path: str, scope: str | None = "admin", **kwargs):
        headers = kwargs.pop("headers", {})
        if scope is not None:
            headers["Authorization"] = f"Bearer {self.keys[scope]}"
        return self.client.request(method, path, headers=headers, **kwargs)


def make_keys(dsn: str) -> dict[str, str]:
    from ledger_pipelines.service.keys import create_key

    with psycopg.connect(dsn, autocommit=True) as conn:
        return {scope: create_key(conn, f"test {scope}", scope)[0] for scope in ("read", "write", "admin")}


@pytest.fixture
def api(service_env, ledger_db, start_process) -> Iterator[Api]:
    """``subledger serve`` on a free port of 127.0.0.1 (a real server process), ready to answer."""
    import httpx

    port = free_port()
    process = start_process(subledger("serve", "--port", str(port)))
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, "subledger serve exited"
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, 60, "subledger serve to answer")
    client = Api(base, make_keys(ledger_db.dsn))
    yield client
    client.client.close()


@pytest.fixture
def workers(service_env, start_process) -> Callable[..., subprocess.Popen]:
    """Start ``subledger workers -n N`` (real processes); stopped after the test."""

    def start(count: int = 1, env: dict[str, str] | None = None) -> subprocess.Popen:
        return start_process(subledger("workers", "-n", str(count)), env=env)

    return start
