"""Arrow reads of the ledger: chunks hold every row once, a prefetched read sees exactly the
reader's snapshot, keeps at most two chunks in memory, and hands its failures to the consumer."""

from __future__ import annotations

import time

import psycopg
import pyarrow as pa
import pytest

from ledger_pipelines.warehouse import arrow_source
from ledger_pipelines.warehouse.arrow_source import snapshot_reader
from tests.warehouse.ledgen import RandomLedger

ENTRIES = "SELECT transaction_id::text AS transaction_id, entry_no, amount FROM ledger.entries"


def _rows(tables) -> list[tuple]:
    return sorted(row for table in tables for row in zip(*(table[c].to_pylist() for c in table.column_names), strict=True))


def _expected(dsn) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return sorted(conn.execute(ENTRIES).fetchall())


def test_chunks_group_batches_and_an_empty_read_is_one_empty_table(monkeypatch):
    schema = pa.schema([("n", pa.int64())])
    batches = [pa.record_batch([pa.array(range(i * 100, i * 100 + 100), pa.int64())], schema=schema) for i in range(10)]
    monkeypatch.setattr(arrow_source, "CHUNK_BYTES", 3 * batches[0].nbytes)
    chunks = list(arrow_source._chunked(iter(batches), schema))
    assert [c.num_rows for c in chunks] == [300, 300, 300, 100]
    assert _rows(chunks) == [(n,) for n in range(1000)]
    empty = list(arrow_source._chunked(iter([]), schema))
    assert len(empty) == 1 and empty[0].num_rows == 0 and empty[0].schema == schema


def test_a_prefetched_read_sees_the_readers_snapshot_not_later_commits(ledger_db, monkeypatch):
    gen = RandomLedger(ledger_db.writer_dsn, seed=5, days=5)
    gen.batch(40, moves=0)
    before = _expected(ledger_db.reader_dsn)
    monkeypatch.setattr(arrow_source, "CHUNK_BYTES", 1)  # one chunk per ADBC batch
    with snapshot_reader(ledger_db.reader_dsn) as reader:
        gen.batch(25, moves=0)  # committed after the reader's snapshot was taken
        prefetched = reader.prefetch(ENTRIES)
        chunks = list(prefetched)
        own = reader.table(ENTRIES)
    assert _rows(chunks) == before == _rows([own])
    assert len(_expected(ledger_db.reader_dsn)) > len(before)


def test_the_worker_holds_at_most_two_chunks_and_stops_when_closed(ledger_db, monkeypatch):
    gen = RandomLedger(ledger_db.writer_dsn, seed=6, days=5)
    gen.batch(60, moves=0)
    monkeypatch.setattr(arrow_source, "CHUNK_BYTES", 1)
    monkeypatch.setattr(arrow_source, "connect", _small_batches(arrow_source.connect))
    with snapshot_reader(ledger_db.reader_dsn) as reader:
        prefetched = reader.prefetch(ENTRIES)
        deadline = time.monotonic() + 10
        while prefetched._chunks.qsize() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # time enough to fill more, were it allowed to
        assert prefetched._chunks.qsize() == 2  # nothing consumed: two chunks, then it waits
        first = next(iter(prefetched))
        assert first.num_rows > 0
    assert not prefetched._thread.is_alive()  # closing the reader stopped and joined the worker


def test_a_failing_prefetch_raises_where_the_consumer_reads(ledger_db):
    with snapshot_reader(ledger_db.reader_dsn) as reader:
        prefetched = reader.prefetch("SELECT * FROM ledger.no_such_table")
        with pytest.raises(Exception, match="no_such_table"):
            list(prefetched)


def test_a_reader_without_a_dsn_cannot_prefetch(ledger_db):
    conn = arrow_source.connect(ledger_db.reader_dsn)
    try:
        reader = arrow_source.SnapshotReader(conn)
        with pytest.raises(RuntimeError, match="snapshot_reader"):
            reader.prefetch(ENTRIES)
        reader.close()
    finally:
        conn.close()


def _small_batches(connect):
    """ADBC connections that send tiny record batches (many chunks from a small ledger)."""

    def small(dsn):
        conn = connect(dsn)
        real_cursor = conn.cursor

        def cursor():
            cur = real_cursor()
            cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": "512"})
            return cur

        conn.cursor = cursor
        return conn

    return small

