"""Reading Postgres as Arrow (ADBC), inside one consistent snapshot.

Everything the warehouse reads from the ledger comes through here: ADBC's PostgreSQL driver
streams query results as Arrow record batches (binary COPY under the hood), which DuckDB
consumes without a Python row ever being built. One :func:`snapshot_reader` is one REPEATABLE
READ, READ ONLY database transaction, so every table read through it reflects the same
snapshot -- the watermark.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa

from ledger_pipelines.paths import read_sql
from ledger_pipelines.warehouse.watermark import Watermark


class SnapshotReader:
    """Arrow reads of the ledger at one snapshot; ``watermark``/``taken_at`` describe it."""

    def __init__(self, conn: adbc.Connection):
        self._conn = conn
        self._cursors: list[adbc.Cursor] = []
        cur = self._cursor()
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute("SET LOCAL TIME ZONE 'UTC'")
        cur.execute(read_sql("warehouse/mirror/pg_snapshot.sql"))
        snapshot, taken_at = cur.fetchone()
        self.watermark: Watermark = Watermark.parse(snapshot)
        self.taken_at: datetime = taken_at

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

    def close(self) -> None:
        for cur in self._cursors:
            try:
                cur.close()
            except Exception:  # a cursor of an aborted stream; the connection closes it anyway
                pass
        self._conn.rollback()


def connect(dsn: str) -> adbc.Connection:
    """An ADBC connection (autocommit off: statements run in an explicit transaction)."""
    return adbc.connect(dsn)


@contextmanager
def snapshot_reader(dsn: str) -> Iterator[SnapshotReader]:
    """A :class:`SnapshotReader` over a fresh connection, closed (rolled back) on exit."""
    conn = connect(dsn)
    try:
        reader = SnapshotReader(conn)
        try:
            yield reader
        finally:
            reader.close()
    finally:
        conn.close()
