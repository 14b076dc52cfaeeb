"""Preparing the next file while the current one is written changes nothing but the speed."""

from __future__ import annotations

import psycopg

from ledger_pipelines.config import load_settings
from ledger_pipelines.generate import generate
from ledger_pipelines.ingest.ingestor import ingest_paths
from ledger_pipelines.ledger.chain import verify
from tests.conftest import drop_database, make_database
from tests.ingest.conftest import assert_consistent, ledger_snapshot


def test_overlapped_and_sequential_ingestion_write_the_same_ledger(ingest_env, ledger_db, pg_cluster, monkeypatch):
    # Corrections, settlements and reversals in later files name postings of earlier files, so
    # the files' order of writing matters and is kept.
    result = generate(ingest_env.landing_dir, subscriptions=20, months=4, seed=23)
    overlapped = ingest_paths(ingest_env, [ingest_env.landing_dir], overlap=True)

    other = make_database(pg_cluster)
    try:
        monkeypatch.setenv("SUBLEDGER_DATABASE_URL", other.dsn)
        sequential = ingest_paths(load_settings(), [ingest_env.landing_dir], overlap=False)
        assert [r.as_json() for r in overlapped] == [r.as_json() for r in sequential]
        assert sum(r.events for r in overlapped) == result.events
        assert [r.source_name for r in overlapped] == [str(p) for p in sorted(result.files)]
        assert ledger_snapshot(ledger_db.dsn) == ledger_snapshot(other.dsn)
        assert_consistent(ledger_db.dsn)
        with psycopg.connect(ledger_db.dsn) as conn:
            batches = conn.execute("SELECT source_name FROM ingest.batches ORDER BY started_at").fetchall()
        assert [b[0] for b in batches] == [r.source_name for r in overlapped]  # written in file order

        again = ingest_paths(ingest_env, [ingest_env.landing_dir], overlap=True)  # a re-run skips every file
        assert all(r.skipped for r in again)
        assert [r.batch_id for r in again] == [r.batch_id for r in overlapped]
    finally:
        drop_database(pg_cluster, other.name)


def test_overlapped_ingestion_seals_every_batch_beside_the_next_and_all_before_it_returns(ingest_env, ledger_db):
    """Each committed batch is sealed on a second connection while the next one is written; when
    the run returns, every transaction is sealed and the chain verifies from the rows."""
    generate(ingest_env.landing_dir, subscriptions=20, months=3, seed=29)
    reports = ingest_paths(ingest_env, [ingest_env.landing_dir], overlap=True)
    assert len(reports) == 3 and all(r.timings["db.seal"] > 0 for r in reports)  # each batch had its seal
    assert all("db.seal_wait" in r.timings for r in reports)  # what the writer waited for it
    with psycopg.connect(ledger_db.reader_dsn, autocommit=True) as conn:
        result = verify(conn)
        transactions = conn.execute("SELECT count(*) FROM ledger.transactions").fetchone()[0]
    assert result.passed, result.broken
    assert result.head.unsealed_transactions == 0 and result.head.sealed_transactions == transactions > 0
