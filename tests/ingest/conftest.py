"""Ingestion fixtures: a SUBLEDGER_HOME whose ledger is a fresh test database (real Postgres)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from ledger_pipelines.config import Settings, load_settings


@pytest.fixture
def ingest_env(ledger_db, monkeypatch) -> Iterator[Settings]:
    """Settings pointing at the per-test database (as an external server) and an empty home
    (removed afterwards)."""
    home = Path(tempfile.mkdtemp(prefix="subledger-ingest-"))
    home.chmod(0o755)
    monkeypatch.setenv("SUBLEDGER_HOME", str(home))
    monkeypatch.setenv("SUBLEDGER_DATABASE_URL", ledger_db.dsn)
    (home / "landing").mkdir()
    yield load_settings()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def write_events(ingest_env) -> Callable[..., Path]:
    """Write events (dicts, or raw lines as str/bytes) as a JSONL file in the landing folder."""

    def write(name: str, events: list) -> Path:
        path = ingest_env.landing_dir / name
        with open(path, "wb") as handle:
            for event in events:
                line = event if isinstance(event, bytes) else (event.encode() if isinstance(event, str) else json.dumps(event).encode())
                handle.write(line + b"\n")
        return path

    return write


def ledger_snapshot(dsn: str) -> dict:
    """Everything the ledger holds, in a comparable form (ids and system times left out)."""
    with psycopg.connect(dsn) as conn:
        transactions = conn.execute(
            "SELECT idempotency_key, status, effective_at, posted_at, archived_at, transition_key, reference, "
            "(SELECT r.idempotency_key FROM ledger.transactions r WHERE r.transaction_id = t.reverses_transaction_id), "
            "content_hash, metadata FROM ledger.transactions t ORDER BY t.idempotency_key"
        ).fetchall()
        entries = conn.execute(
            "SELECT t.idempotency_key, e.entry_no, a.code, e.direction, e.amount, e.currency, e.effective_at "
            "FROM ledger.entries e JOIN ledger.transactions t USING (transaction_id) JOIN ledger.accounts a USING (account_id) "
            "ORDER BY 1, 2"
        ).fetchall()
        balances = conn.execute(
            "SELECT a.code, b.currency, b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits, b.version "
            "FROM ledger.balances b JOIN ledger.accounts a USING (account_id) ORDER BY 1, 2"
        ).fetchall()
        quarantine = conn.execute(
            "SELECT event_id, reason_code, raw FROM ingest.quarantine ORDER BY source_name, line_no NULLS FIRST, event_id"
        ).fetchall()
        batches = conn.execute(
            "SELECT source_name, events, posted, pending, duplicate, quarantined FROM ingest.batches ORDER BY source_name"
        ).fetchall()
    return {"transactions": transactions, "entries": entries, "balances": balances, "quarantine": quarantine, "batches": batches}


def assert_consistent(dsn: str) -> None:
    """Cached balances equal the recomputation from entries; every transaction balances."""
    with psycopg.connect(dsn) as conn:
        drift = conn.execute(
            """
            WITH recomputed AS (
                SELECT e.account_id, e.currency,
                       coalesce(sum(e.amount) FILTER (WHERE t.status = 'posted' AND e.direction = 'debit'), 0) AS pd,
                       coalesce(sum(e.amount) FILTER (WHERE t.status = 'posted' AND e.direction = 'credit'), 0) AS pc,
                       coalesce(sum(e.amount) FILTER (WHERE t.status = 'pending' AND e.direction = 'debit'), 0) AS qd,
                       coalesce(sum(e.amount) FILTER (WHERE t.status = 'pending' AND e.direction = 'credit'), 0) AS qc
                  FROM ledger.entries e JOIN ledger.transactions t USING (transaction_id)
                 GROUP BY 1, 2)
            SELECT count(*) FROM ledger.balances b FULL JOIN recomputed r USING (account_id, currency)
             WHERE (coalesce(b.posted_debits, 0), coalesce(b.posted_credits, 0), coalesce(b.pending_debits, 0), coalesce(b.pending_credits, 0))
                   IS DISTINCT FROM (coalesce(r.pd, 0), coalesce(r.pc, 0), coalesce(r.qd, 0), coalesce(r.qc, 0))
            """
        ).fetchone()[0]
        unbalanced = conn.execute(
            "SELECT count(*) FROM (SELECT transaction_id, currency FROM ledger.entries GROUP BY 1, 2 "
            "HAVING sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) <> 0) u"
        ).fetchone()[0]
    assert drift == 0, "cached balances drifted from the entries"
    assert unbalanced == 0, "a transaction does not balance"
