"""Readers: one source file (or an in-memory frame) -> one *raw frame* of envelope fields as JSON text.

Formats (docs/source-events.md, "Transport"):

* ``*.jsonl`` / ``*.jsonl.gz`` -- one JSON object per line; blank lines are ignored, ``\\r\\n``
  line ends and a UTF-8 byte-order mark are accepted;
* ``*.csv`` -- RFC 4180 with a header row; ``payload`` and ``metadata`` cells hold JSON text;
  empty cells mean "absent";
* ``*.parquet`` -- the same columns; ``payload``/``metadata`` as JSON text or as structs;
* a Polars frame with those columns (the outbox, tests).

Every format ends up as one JSON object text per event, parsed in bulk by
:mod:`ledger_pipelines.ingest.jsontext` into one column of *JSON text* per envelope field
(``"abc"`` for a string, ``100`` for a number, ``{...}`` for an object), so validation sees each
value's type and every digit exactly as sent. CSV/Parquet/frame rows are rendered to such a JSON
object first; that rendering is also their ``raw`` bytes, so a quarantined row can be exported,
fixed and replayed as a JSON line.

A bad line or row becomes a per-line reject (``reason_code``/``message`` set); a file that cannot
be read at all becomes a :class:`RawFile` with ``file_reason`` set and no rows. Nothing here loops
over rows in Python except to describe rejected ones.

Modules: ``files`` (which reader a landed file takes; opening it inside the landing folder),
``lines`` (bounded line splitting), ``jsonl``, ``csvfile``, ``tables`` (Parquet and frames) and
``raw`` (the raw frame, the envelope fields, the limits).
"""

from ledger_pipelines.ingest.readers.csvfile import read_csv_bytes
from ledger_pipelines.ingest.readers.files import format_of, read_path
from ledger_pipelines.ingest.readers.jsonl import read_jsonl_bytes
from ledger_pipelines.ingest.readers.raw import (
    ENVELOPE_FIELDS,
    MAX_EVENT_BYTES,
    MAX_NESTING_DEPTH,
    RAW_SCHEMA,
    REQUIRED_COLUMNS,
    SUPPORTED_SUFFIXES,
    RawFile,
    ReadLimits,
    empty_raw,
    unreadable_file,
)
from ledger_pipelines.ingest.readers.tables import read_frame, read_parquet_bytes

__all__ = [
    "ENVELOPE_FIELDS", "MAX_EVENT_BYTES", "MAX_NESTING_DEPTH", "RAW_SCHEMA", "REQUIRED_COLUMNS", "SUPPORTED_SUFFIXES",
    "RawFile", "ReadLimits", "empty_raw", "format_of", "read_csv_bytes", "read_frame", "read_jsonl_bytes",
    "read_parquet_bytes", "read_path", "unreadable_file",
]
