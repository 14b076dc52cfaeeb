"""Publishing the warehouse: readers never break writers, writers never break readers.

The pipeline writes only the private work file. After a materialisation it publishes a
consistent copy to ``SUBLEDGER_DUCKDB_PATH``:

1. under the one-writer lock (no writer is mid-transaction; the work file was checkpointed on
   close, so it holds every committed change and needs no WAL),
2. copy it to a temporary file in the published file's folder (same file system),
3. fsync the copy, rename it over the published path (atomic), fsync the folder.

A reader that holds the published file open (read-only) keeps reading the version it opened --
the rename only changes which inode the *name* points to -- and sees the new version when it
reconnects. The pipeline never opens the published path, so a reader's DuckDB lock on it can
never block a run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ledger_pipelines.warehouse.store import connect, install_session_macros, writer_lock


class NothingToPublish(RuntimeError):
    """The work file does not exist yet."""


@dataclass(frozen=True)
class Published:
    path: Path
    bytes: int


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _checkpoint_if_wal(work_path: Path) -> None:
    """A WAL left by a crashed writer is folded into the file before it is copied."""
    wal = work_path.with_name(work_path.name + ".wal")
    if wal.exists():
        conn = connect(work_path)
        try:
            conn.execute("CHECKPOINT")
        finally:
            conn.close()


def publish_unlocked(work_path: Path, published_path: Path) -> Published:
    """Copy-fsync-rename ``work_path`` to ``published_path``; the caller holds the writer lock."""
    if not work_path.exists():
        raise NothingToPublish(
            f"{work_path} does not exist yet; materialise the warehouse first (`subledger run`)."
        )
    _checkpoint_if_wal(work_path)
    folder = published_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{published_path.name}.", suffix=".tmp", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out, open(work_path, "rb") as source:
            shutil.copyfileobj(source, out, length=16 * 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        temp.chmod(0o644)
        os.replace(temp, published_path)
        _fsync_dir(folder)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return Published(published_path, published_path.stat().st_size)


def publish(work_path: Path, published_path: Path) -> Published:
    """Publish the work file (takes the one-writer lock; do not call while holding it)."""
    with writer_lock(work_path):
        return publish_unlocked(work_path, published_path)


def open_published(published_path: Path) -> duckdb.DuckDBPyConnection:
    """What finance does: a read-only connection to the published warehouse."""
    if not published_path.exists():
        raise NothingToPublish(
            f"{published_path} does not exist yet; run `subledger run` (or `subledger demo`) to build the warehouse."
        )
    conn = connect(published_path, read_only=True)
    install_session_macros(conn)
    return conn
