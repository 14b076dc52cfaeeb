"""The raw frame every reader produces, the envelope fields and the limits a reader keeps."""


from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

from ledger_pipelines.ingest import reasons as R

ENVELOPE_FIELDS: tuple[str, ...] = (
    "event_id", "event_type", "effective_at", "recorded_at", "subscription_id", "customer_id",
    "amount", "currency", "payload", "metadata",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("event_id", "event_type", "effective_at")
MAX_EVENT_BYTES = 1 << 20  # 1 MiB per event (contract "Limits")
MAX_NESTING_DEPTH = 64  # objects/arrays nested deeper than this (the event object is level 1) are refused
SUPPORTED_SUFFIXES = (".jsonl", ".jsonl.gz", ".csv", ".parquet")

RAW_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64,  # 0-based position in the file (prepare_batch renumbers per batch)
    "line_no": pl.Int64,  # 1-based line (JSONL, CSV: first line of the row) or row number (Parquet, frame)
    "raw": pl.Binary,  # the line as received; CSV/Parquet/frame rows: their JSON rendering
    "source_file": pl.Utf8,
    "reason_code": pl.Utf8,  # set when the line itself is unusable
    "message": pl.Utf8,
    **{name: pl.Utf8 for name in ENVELOPE_FIELDS},  # JSON text as sent (null when absent or JSON null)
    "extras": pl.Utf8,  # JSON object of unknown top-level fields (sorted keys), null when none
    "extra_keys": pl.List(pl.Utf8),  # their keys as JSON string literals
}

# Raw control bytes other than tab, LF, CR: never valid inside JSON text.
_CONTROL_BYTES = r"[\x00-\x08\x0B\x0C\x0E-\x1F]"
_CONTROL_RE = re.compile(_CONTROL_BYTES)


@dataclass(frozen=True)
class ReadLimits:
    """What one file may make a reader hold (``SUBLEDGER_MAX_*``, docs/source-events.md "Limits of one file").

    A file beyond ``max_file_bytes`` (after decompression), a ``.jsonl.gz`` that expands more than
    ``max_gzip_ratio`` times, or a CSV/Parquet file with more than ``max_columns`` columns is
    quarantined as a whole, and reading stops as soon as the limit is passed; a line (JSON) or
    row (CSV) longer than ``max_line_bytes`` is quarantined alone as ``event_too_large`` without
    its bytes being kept (the quarantine entry points at the file).
    """

    max_file_bytes: int = 256 << 20
    max_gzip_ratio: int = 100
    max_columns: int = 256
    max_line_bytes: int = 4 << 20

    @classmethod
    def of(cls, settings) -> ReadLimits:
        return cls(settings.max_file_bytes, settings.max_gzip_ratio, settings.max_columns, settings.max_line_bytes)


@dataclass
class RawFile:
    """What a reader produced for one source."""

    source_file: str
    frame: pl.DataFrame  # RAW_SCHEMA
    bytes_read: int = 0
    file_reason: str | None = None  # set when the whole file is unreadable
    file_message: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def unreadable(self) -> bool:
        return self.file_reason is not None


def empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_SCHEMA)


def unreadable_file(source: str, message: str, bytes_read: int = 0) -> RawFile:
    """A whole source that cannot be read: one ``unreadable_file`` reject.

    Its bytes are not copied into the quarantine: the entry points at the file (path, sha256,
    size), which stays in the landing folder.
    """
    return RawFile(source, empty_raw(), bytes_read=bytes_read, file_reason=R.UNREADABLE_FILE, file_message=message)
