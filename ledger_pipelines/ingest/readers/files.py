"""Which reader a landed file takes, and opening it safely inside the landing folder (gzip included)."""


from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from ledger_pipelines.ingest.landing import RefusedFile, open_event_file
from ledger_pipelines.ingest.readers.csvfile import read_csv_bytes
from ledger_pipelines.ingest.readers.jsonl import _jsonl_of_lines
from ledger_pipelines.ingest.readers.lines import GZIP_RATIO_FLOOR, READ_CHUNK, _collect_lines, _OverBudget, _too_big
from ledger_pipelines.ingest.readers.raw import SUPPORTED_SUFFIXES, RawFile, ReadLimits, unreadable_file
from ledger_pipelines.ingest.readers.tables import read_parquet_bytes


def format_of(path: str | Path) -> str:
    """The format :func:`read_path` reads a file as, decided by its name alone.

    ``jsonl.gz`` (any ``.gz``), ``jsonl`` (``.jsonl``, ``.ndjson``), ``csv``, ``parquet``, or the
    bare suffix of an unsupported name.
    """
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        return "jsonl.gz"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith((".csv", ".parquet")):
        return name.rsplit(".", 1)[1]
    return Path(name).suffix or "(no suffix)"


def read_path(path: str | Path, limits: ReadLimits | None = None, *, root: Path | None = None) -> RawFile:
    """Read one landed file, choosing the format by its name (:func:`format_of`), within ``limits``.

    The file is opened with :func:`ledger_pipelines.ingest.landing.open_event_file` (with
    ``root``: only a regular file inside that folder, no link followed); a refused or oversized
    file is one whole-file reject and no more of it is read.
    """
    limits = limits or ReadLimits()
    path = Path(path)
    kind = format_of(path)
    source = str(path)
    try:
        handle = open_event_file(path, root)
    except RefusedFile as exc:
        return unreadable_file(source, str(exc))
    except OSError as exc:
        return unreadable_file(source, f"the file could not be opened ({exc.strerror or exc}); check that it exists and is readable.")
    with handle:
        if kind not in ("jsonl.gz", "jsonl", "csv", "parquet"):
            return unreadable_file(source, f"unsupported file type {path.suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}.")
        size = os.fstat(handle.fileno()).st_size
        if kind == "jsonl.gz":
            return _read_gzip(handle, size, source, limits)
        if size > limits.max_file_bytes:
            return unreadable_file(source, _too_big(size, limits), bytes_read=size)
        if kind == "jsonl":
            lines = _collect_lines(iter(lambda: handle.read(READ_CHUNK), b""), limits, budget=limits.max_file_bytes)
            return _jsonl_of_lines(lines, source, size)
        data = handle.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:  # grew while being read
        return unreadable_file(source, _too_big(len(data), limits), bytes_read=len(data))
    if kind == "csv":
        return read_csv_bytes(data, source, limits)
    return read_parquet_bytes(data, source, limits)


def _read_gzip(handle, size: int, source: str, limits: ReadLimits) -> RawFile:
    """Decompress in bounded pieces; stop at the expansion or size limit (a gzip bomb is never held)."""
    by_ratio = max(limits.max_gzip_ratio * size, GZIP_RATIO_FLOOR)
    budget = min(by_ratio, limits.max_file_bytes)
    stream = gzip.GzipFile(fileobj=handle, mode="rb")
    try:
        lines = _collect_lines(iter(lambda: stream.read(READ_CHUNK), b""), limits, budget=budget)
    except (OSError, EOFError, zlib.error) as exc:
        return unreadable_file(source, f"the file is named .gz but is not valid gzip ({exc}); compress it with gzip or rename "
                               "it to .jsonl.", bytes_read=size)
    except _OverBudget as exc:
        if budget == by_ratio and by_ratio < limits.max_file_bytes:
            return unreadable_file(source, f"the file expands to more than {limits.max_gzip_ratio} times its compressed size "
                                   f"({size:,} bytes; reading stopped after {exc.read:,} decompressed bytes), the most "
                                   "SUBLEDGER_MAX_GZIP_RATIO allows: a compression bomb, or data so repetitive that it should be "
                                   "checked. Re-export it, or raise the limit if the file is genuine.", bytes_read=size)
        return unreadable_file(source, _too_big(exc.read, limits, "the file decompresses to"), bytes_read=size)
    return _jsonl_of_lines(lines, source, size)
