"""The DuckDB work file: one writer process at a time, schema applied on open.

DuckDB lets exactly one process open a file for writing. The pipeline therefore writes a private
work file (``Settings.warehouse_work_path``) under an exclusive advisory lock on
``<work file>.lock`` -- two pipeline processes (a Dagster run and ``subledger run``) queue instead
of failing on DuckDB's own lock -- and readers only ever open the published copy
(:mod:`ledger_pipelines.warehouse.publish`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ledger_pipelines.paths import read_sql

if TYPE_CHECKING:  # duckdb is imported when a file is opened: importing this module stays cheap
    import duckdb

LOG = logging.getLogger(__name__)
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
    import duckdb

    conn = duckdb.connect(str(path), read_only=read_only)
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the warehouse tables that do not exist yet and (re)create the macros
    (``sql/warehouse/schema.sql``, ``sql/warehouse/macros.sql``)."""
    conn.execute(read_sql("warehouse/schema.sql"))
    conn.execute(read_sql("warehouse/macros.sql"))


def install_session_macros(conn: duckdb.DuckDBPyConnection) -> None:
    """This code's macros (``sql/warehouse/macros.sql``) as TEMP macros of a read-only connection:
    they shadow the ones stored in the file, so a warehouse published by an older version is read
    with the rules its reader's queries expect (a macro added since would otherwise be missing)."""
    conn.execute(read_sql("warehouse/macros.sql").replace("CREATE OR REPLACE MACRO", "CREATE OR REPLACE TEMP MACRO"))


# What DuckDB says about a file it cannot read as a database (damaged, truncated, not DuckDB).
_DAMAGE_SIGNS = ("not a valid duckdb database", "corrupt", "checksum", "could not read enough bytes", "failed to read")


def _is_damaged(exc: Exception) -> bool:
    text = str(exc).lower()
    held_elsewhere = "could not set lock" in text or "conflicting lock" in text
    return not held_elsewhere and any(sign in text for sign in _DAMAGE_SIGNS)


def _open_or_set_aside(work_path: Path) -> duckdb.DuckDBPyConnection:
    """Open the work file with its schema; a damaged file is moved aside and a new one started.

    The work file is derived: everything in it is rebuilt from the ledger in Postgres (the source
    of truth) by the next mirror and snapshot runs. The damaged copy is kept beside it as
    ``<work file>.damaged-<UTC time>`` for inspection, never deleted.
    """
    import duckdb

    damage = None
    try:
        conn = connect(work_path)
        try:
            ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn
    except duckdb.Error as exc:
        if not work_path.exists() or not _is_damaged(exc):
            raise
        damage = str(exc)
    _set_aside(work_path, damage, "this run")
    conn = connect(work_path)
    ensure_schema(conn)
    return conn


def _set_aside(work_path: Path, damage: str, rebuilt_by: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = work_path.with_name(f"{work_path.name}.damaged-{stamp}")
    number = 1
    while aside.exists():  # a second damaged file within the same second: never replace the first
        number += 1
        aside = work_path.with_name(f"{work_path.name}.damaged-{stamp}-{number}")
    work_path.replace(aside)
    wal = work_path.with_name(work_path.name + ".wal")
    if wal.exists():
        wal.replace(aside.with_name(aside.name + ".wal"))
    LOG.warning("the warehouse work file %s is damaged (%s); it was moved to %s and the warehouse is rebuilt from the "
                "ledger (the source of truth) by %s", work_path, damage, aside, rebuilt_by)
    return aside


@contextmanager
def open_work(work_path: Path, timeout_s: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    """The work file opened for writing, under the one-writer lock, schema applied.

    A damaged work file is set aside and rebuilt from the ledger (:func:`_open_or_set_aside`).
    The connection is checkpointed and closed on exit, so the file alone (no WAL) holds every
    committed change and can be published by copying it.
    """
    import duckdb

    with writer_lock(work_path, timeout_s):
        conn = _open_or_set_aside(work_path)
        damage = None
        try:
            yield conn
            conn.execute("CHECKPOINT")
        except duckdb.Error as exc:  # damage found while reading: the next run starts a new file
            if _is_damaged(exc):
                damage = str(exc)
            raise
        finally:
            conn.close()
            if damage is not None and work_path.exists():
                _set_aside(work_path, damage, "the next run")
