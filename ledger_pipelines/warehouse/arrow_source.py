"""Reading Postgres as Arrow (ADBC), inside one consistent snapshot.

Everything the warehouse reads from the ledger comes through here: ADBC's PostgreSQL driver
streams query results as Arrow record batches (binary COPY under the hood), which DuckDB
consumes without a Python row ever being built. One :func:`snapshot_reader` is one REPEATABLE
READ, READ ONLY database transaction, so every table read through it reflects the same
snapshot -- the watermark.

Big reads come as *chunks*: Arrow tables of up to :data:`CHUNK_BYTES`. DuckDB inserts an
in-memory table with all its threads (a record batch stream is consumed by one), and the memory
a read holds stays bounded however big the table. A read can also be *prefetched*
(:meth:`SnapshotReader.prefetch`): a worker thread reads it on its own connection, which imports
the reader's snapshot (``pg_export_snapshot`` / ``SET TRANSACTION SNAPSHOT``, as
``pg_dump --jobs`` does), while the caller is still busy with another table. The rows are
exactly those the reader itself would have read.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa

from ledger_pipelines.paths import read_sql
from ledger_pipelines.warehouse.watermark import Watermark


class SnapshotReader:
    """Arrow reads of the ledger at one snapshot; ``watermark``/``taken_at`` describe it."""

    def __init__(self, conn: adbc.Connection, dsn: str | None = None):
        self._conn = conn
        self._dsn = dsn  # prefetching opens more connections to it
        self._cursors: list[adbc.Cursor] = []
        cur = self._cursor()
        _begin_read_only(cur)
        cur.execute(read_sql("warehouse/mirror/pg_snapshot.sql"))
        snapshot, taken_at = cur.fetchone()
        self.watermark: Watermark = Watermark.parse(snapshot)
        self.taken_at: datetime = taken_at
        self._exported: str | None = None
        self._prefetches: list[PrefetchedChunks] = []

    def _cursor(self) -> adbc.Cursor:
        cur = self._conn.cursor()
        self._cursors.append(cur)
        return cur

    def stream(self, query: str) -> pa.RecordBatchReader:
        """The result of ``query`` as a stream of Arrow record batches (read it before the next query)."""
        cur = self._cursor()
        cur.execute(query)
        return cur.fetch_record_batch()

    def table(self, query: str) -> pa.Table:
        """The whole result of ``query`` as one Arrow table."""
        cur = self._cursor()
        cur.execute(query)
        return cur.fetch_arrow_table()

    def prefetch(self, query: str) -> PrefetchedChunks:
        """Start reading ``query`` at this reader's snapshot in a worker thread; iterate the
        returned object for its rows as Arrow tables of up to :data:`CHUNK_BYTES` each (at least
        one, empty when there are no rows)."""
        if self._dsn is None:
            raise RuntimeError("prefetch needs a reader opened by snapshot_reader(dsn)")
        if self._exported is None:
            cur = self._cursor()
            cur.execute(read_sql("warehouse/mirror/pg_export_snapshot.sql"))
            self._exported = cur.fetchone()[0]
        prefetched = PrefetchedChunks(self._dsn, self._exported, query)
        self._prefetches.append(prefetched)
        return prefetched

    def close(self) -> None:
        for prefetched in self._prefetches:
            prefetched.close()  # first: the exported snapshot lives only as long as this transaction
        for cur in self._cursors:
            try:
                cur.close()
            except Exception:  # a cursor of an aborted stream; the connection closes it anyway
                pass
        self._conn.rollback()


def _begin_read_only(cur: adbc.Cursor, snapshot_id: str | None = None) -> None:
    """Open the read-only REPEATABLE READ transaction of a read (in UTC); with ``snapshot_id``,
    at that exported snapshot instead of a new one."""
    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    if snapshot_id is not None:
        cur.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")  # an id Postgres made, not input
    cur.execute("SET LOCAL TIME ZONE 'UTC'")


def connect(dsn: str) -> adbc.Connection:
    """An ADBC connection (autocommit off: statements run in an explicit transaction)."""
    return adbc.connect(dsn)


@contextmanager
def snapshot_reader(dsn: str) -> Iterator[SnapshotReader]:
    """A :class:`SnapshotReader` over a fresh connection, closed (rolled back) on exit."""
    conn = connect(dsn)
    try:
        reader = SnapshotReader(conn, dsn)
        try:
            yield reader
        finally:
            reader.close()
    finally:
        conn.close()


CHUNK_BYTES = 256 * 1024 * 1024  # Arrow bytes per chunk (ADBC batches are ~16 MB each)
_END = object()


def _chunked(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, *, before_chunk: Callable[[], bool] = lambda: True
) -> Iterator[pa.Table]:
    """Group ``batches`` into tables of up to ~CHUNK_BYTES; at least one table (maybe empty).

    ``before_chunk`` is called before a chunk starts to fill (a prefetching worker waits there
    for a free slot); when it returns False, no more chunks are made.
    """
    held: list[pa.RecordBatch] = []
    size = 0
    yielded = False
    if not before_chunk():
        return
    for batch in batches:
        held.append(batch)
        size += batch.nbytes
        if size >= CHUNK_BYTES:
            yield pa.Table.from_batches(held, schema)
            yielded = True
            held, size = [], 0
            if not before_chunk():
                return
    if held or not yielded:
        yield pa.Table.from_batches(held, schema)


class PrefetchedChunks:
    """One query read by a worker thread on its own connection, at an exported snapshot.

    At most two chunks exist at a time: the one the consumer works on and the one the worker
    fills (a slot is freed when the consumer asks for the next). After the last chunk comes an
    end marker -- or the exception that stopped the worker, which iteration re-raises.
    """

    SLOTS = 2

    def __init__(self, dsn: str, snapshot_id: str, query: str):
        self._chunks: queue.Queue = queue.Queue()
        self._slots = threading.Semaphore(self.SLOTS)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._work, args=(dsn, snapshot_id, query), name="subledger-prefetch", daemon=True
        )
        self._thread.start()

    def _take_slot(self) -> bool:
        while not self._stop.is_set():
            if self._slots.acquire(timeout=0.1):
                return True
        return False

    def _work(self, dsn: str, snapshot_id: str, query: str) -> None:
        try:
            with connect(dsn) as conn, conn.cursor() as cur:
                _begin_read_only(cur, snapshot_id)
                cur.execute(query)
                batches = cur.fetch_record_batch()
                for chunk in _chunked(batches, batches.schema, before_chunk=self._take_slot):
                    self._chunks.put(chunk)
                conn.rollback()
            self._chunks.put(_END)
        except BaseException as exc:  # handed to the consumer, raised where it iterates
            self._chunks.put(exc)

    def __iter__(self) -> Iterator[pa.Table]:
        first = True
        while True:
            if not first:
                self._slots.release()  # the consumer is done with the previous chunk
            first = False
            item = self._chunks.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the worker if the consumer did not read to the end, and wait for it."""
        self._stop.set()
        self._thread.join()
