"""The quarantine: every rejected event with its raw bytes and reason, until a replay resolves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from ledger_pipelines.paths import read_sql


@dataclass(frozen=True)
class QuarantinedEvent:
    quarantine_id: str
    quarantined_at: datetime
    source_name: str
    line_no: int | None
    event_id: str | None
    event_type: str | None
    reason_code: str
    message: str
    raw_bytes: int
    resolution: str | None
    resolved_at: datetime | None
    batch_id: str
    file_path: str | None  # the file the event came from; its bytes are there when raw_bytes is 0
    file_sha256: str | None  # None when the file was not read (a link, a FIFO, ...)
    file_bytes: int | None
    resolved_transaction_id: str | None  # the transaction that stands for the event once resolved

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def list_quarantine(conn: psycopg.Connection, *, include_resolved: bool = False, limit: int = 10_000) -> list[QuarantinedEvent]:
    rows = conn.execute(read_sql("ingest/list_quarantine.sql"), {"all": include_resolved, "limit": limit}).fetchall()
    return [QuarantinedEvent(*row) for row in rows]


def export_open(conn: psycopg.Connection, out: Path, *, reason: str | None = None) -> int:
    """Write the raw bytes of open quarantine entries as JSON lines to ``out`` (to fix and replay).

    Entries without raw bytes (whole unreadable files, lines too long to keep; they point at their
    file) are not included: fix and re-drop those files.
    """
    rows = conn.execute(read_sql("ingest/quarantine_raw.sql"), {"reason": reason}).fetchall()
    with open(out, "wb") as handle:
        for _event_id, raw in rows:
            handle.write(bytes(raw).rstrip(b"\r\n") + b"\n")
    return len(rows)
