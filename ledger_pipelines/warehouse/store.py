"""The DuckDB work file: one writer process at a time, schema applied on open.

DuckDB lets exactly one process open a file for writing. The pipeline therefore writes a private
work file (``Settings.warehouse_work_path``) under an exclusive advisory lock on
``<work file>.lock`` -- two pipeline processes (a Dagster run and ``subledger run``) queue instead
of failing on DuckDB's own lock -- and readers only ever open the published copy
(:mod:`ledger_pipelines.warehouse.publish`).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ledger_pipelines.paths import read_sql

LOCK_POLL_SECONDS = 0.1
DEFAULT_LOCK_TIMEOUT_SECONDS = 600.0


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse work file for longer than the timeout."""


def lock_path(work_path: Path) -> Path:
    return work_path.with_name(work_path.name + ".lock")


@contextmanager
def writer_lock(work_path: Path, timeout_s: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the exclusive one-writer lock of ``work_path`` (waits up to ``timeout_s``)."""
    work_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(work_path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        f"another process has been writing {work_path} for more than {timeout_s:.0f} s; "
                        "wait for the running materialisation to finish (see the Dagster UI or `ps`), then retry."
                    ) from None
                time.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC (TIMESTAMPTZ values come back as UTC datetimes)."""
    conn = duckdb.connect(str(path), read_only=read_only)
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the warehouse tables that do not exist yet (sql/warehouse/schema.sql)."""
    conn.execute(read_sql("warehouse/schema.sql"))


@contextmanager
def open_work(work_path: Path, timeout_s: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    """The work file opened for writing, under the one-writer lock, schema applied.

    The connection is checkpointed and closed on exit, so the file alone (no WAL) holds every
    committed change and can be published by copying it.
    """
    with writer_lock(work_path, timeout_s):
        conn = connect(work_path)
        try:
            ensure_schema(conn)
            yield conn
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
