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
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import re
import zlib
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.landing import RefusedFile, open_event_file

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


# -- entry points ---------------------------------------------------------------------------------

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


def _too_big(size: int, limits: ReadLimits, what: str = "the file holds") -> str:
    return (f"{what} more than {limits.max_file_bytes:,} bytes ({size:,} read), the largest file one batch reads "
            "(SUBLEDGER_MAX_FILE_BYTES); split it into smaller files and drop those.")


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


# -- bounded line splitting --------------------------------------------------------------------------

READ_CHUNK = 8 << 20  # bytes read (or decompressed) at a time
GZIP_RATIO_FLOOR = 64 << 20  # a .jsonl.gz may always expand to this much, whatever its ratio (small, repetitive files)


class _OverBudget(Exception):
    def __init__(self, read: int):
        super().__init__(read)
        self.read = read


@dataclass
class _Lines:
    """A file's lines as one buffer, lines longer than the limit emptied; their numbers and sizes apart."""

    data: bytearray  # not copied into bytes: the readers take any buffer
    oversized: dict[int, int]  # 1-based line number -> its length in bytes (without the line end)


def _collect_lines(chunks, limits: ReadLimits, *, budget: int) -> _Lines:
    """Join ``chunks`` into one buffer, without ever holding a line longer than ``limits.max_line_bytes``.

    Such a line is replaced by an empty one (its number and size are kept), so memory is bounded
    by the file's lines of acceptable length, whatever the file holds. More than ``budget``
    bytes in all raises :class:`_OverBudget` as soon as they are read.
    """
    cap = limits.max_line_bytes
    out = bytearray()
    oversized: dict[int, int] = {}
    total = 0
    line_no = 1  # the line being read
    current = 0  # its bytes so far (kept in ``out`` unless dropping)
    dropping = False
    for chunk in chunks:
        total += len(chunk)
        if total > budget:
            raise _OverBudget(total)
        newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
        if not dropping:
            first = (newlines[0] if len(newlines) else len(chunk)) + current
            longest = int(np.diff(newlines).max()) - 1 if len(newlines) > 1 else 0
            tail = len(chunk) - 1 - int(newlines[-1]) if len(newlines) else 0
            if first <= cap and longest <= cap and (tail if len(newlines) else first) <= cap:
                out += chunk
                line_no += len(newlines)
                current = tail if len(newlines) else first
                continue
        start = 0
        for end in [*(int(n) for n in newlines), len(chunk)]:
            piece = end - start  # bytes of this line within the chunk, without its '\n'
            ends_line = end < len(chunk)
            if not dropping and current + piece > cap:
                if current:
                    del out[len(out) - current:]
                dropping = True
            if dropping:
                current += piece
                if ends_line:
                    oversized[line_no] = current
                    out += b"\n"
            else:
                out += chunk[start:end + 1] if ends_line else chunk[start:end]
                current += piece
            if ends_line:
                line_no += 1
                current = 0
                dropping = False
            start = end + 1
    if dropping:
        oversized[line_no] = current
        out += b"\n"
    return _Lines(out, oversized)


def read_frame(frame: pl.DataFrame, source: str = "frame") -> RawFile:
    """Read events given as a Polars frame with the envelope columns (e.g. the outbox)."""
    return _read_table(frame, source, bytes_read=int(frame.estimated_size()))


_NOT_KEPT = (" The line is longer than SUBLEDGER_MAX_LINE_BYTES, so its bytes were not kept: it is in the file this "
             "entry points at (path, sha256, size).")


# -- JSON lines ------------------------------------------------------------------------------------

_UTF16_32_BOMS = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\xff\xfe", b"\xfe\xff")


def _jsonl_of_lines(lines: _Lines, source: str, size: int) -> RawFile:
    raw = read_jsonl_bytes(lines.data, source, oversized=lines.oversized)
    raw.bytes_read = size
    return raw


def read_jsonl_bytes(data: bytes | bytearray, source: str, *, oversized: dict[int, int] | None = None) -> RawFile:
    """Split ``data`` into lines and parse them; see the module docs.

    ``oversized`` names the lines :func:`_collect_lines` emptied because they were longer than
    the line limit (number -> bytes): each is an ``event_too_large`` reject without raw bytes.
    """
    for bom in _UTF16_32_BOMS:
        if data.startswith(bom):
            return unreadable_file(source, "the file is UTF-16/UTF-32 encoded (it starts with that byte-order mark); "
                                   "re-export it as UTF-8.", bytes_read=len(data))
    start = 3 if data.startswith(codecs.BOM_UTF8) else 0
    offsets = _line_offsets(data, start)
    n = len(offsets) - 1
    if n == 0:
        return RawFile(source, empty_raw(), bytes_read=len(data))
    buffer = pa.py_buffer(data)
    offsets_buffer = pa.py_buffer(offsets)
    binary = pl.Series("bin", pa.Array.from_buffers(pa.large_binary(), n, [None, offsets_buffer, buffer]))
    bad_utf8 = _invalid_utf8_lines(data, offsets)
    if not bad_utf8:
        text = pl.Series("text", pa.Array.from_buffers(pa.large_string(), n, [None, offsets_buffer, buffer]))
    else:
        mask = np.zeros(n, dtype=bool)
        mask[list(bad_utf8)] = True
        keep = pl.Series(~mask).arg_true()
        text = pl.repeat(None, n, dtype=pl.Utf8, eager=True).rename("text").scatter(keep, binary.gather(keep).cast(pl.Utf8))
        if keep.is_empty() or text.str.strip_chars().str.len_bytes().fill_null(0).max() == 0:
            return unreadable_file(source, "no line of the file is valid UTF-8 text (is it Latin-1, UTF-16 or binary?); "
                                   "re-export it as UTF-8.", bytes_read=len(data))
    text = text.str.strip_suffix("\n").str.strip_suffix("\r")  # the line without its terminator
    lines = pl.DataFrame({
        "line_no": pl.int_range(1, n + 1, eager=True, dtype=pl.Int64),
        "text": text,
        "raw": text.cast(pl.Binary),
    })
    if bad_utf8:
        bad = pl.Series(sorted(bad_utf8), dtype=pl.Int64)
        raw_bad = binary.gather(bad)
        raw_bad = pl.select(raw_bad.bin.slice(0, raw_bad.bin.size() - raw_bad.bin.ends_with(b"\n").cast(pl.Int64)
                                              - raw_bad.bin.ends_with(b"\r\n").cast(pl.Int64))).to_series()
        lines = lines.with_columns(lines["raw"].scatter(bad, raw_bad))
    size = pl.col("raw").bin.size()
    if oversized:
        dropped = pl.DataFrame({"line_no": list(oversized), "_dropped": list(oversized.values())},
                               schema={"line_no": pl.Int64, "_dropped": pl.Int64})
        lines = lines.join(dropped, on="line_no", how="left", maintain_order="left")
    else:
        lines = lines.with_columns(_dropped=pl.lit(None, pl.Int64))
    size = pl.coalesce(pl.col("_dropped"), size)
    lines = lines.with_columns(
        source_file=pl.lit(source),
        reason_code=pl.when(pl.col("_dropped").is_not_null()).then(pl.lit(R.EVENT_TOO_LARGE))
        .when(pl.col("text").is_null()).then(pl.lit(R.MALFORMED_JSON))
        .when(size > MAX_EVENT_BYTES).then(pl.lit(R.EVENT_TOO_LARGE)),
    ).with_columns(
        message=pl.when(pl.col("reason_code") == R.MALFORMED_JSON)
        .then(pl.format("line {} is not valid UTF-8 text; write the file as UTF-8.", pl.col("line_no")))
        .when(pl.col("reason_code") == R.EVENT_TOO_LARGE)
        .then(pl.format("line {} is {} bytes; one event may be at most 1 MiB ({} bytes). Move large content "
                        "out of the event and reference it by id.{}", pl.col("line_no"), size, pl.lit(MAX_EVENT_BYTES),
                        pl.when(pl.col("_dropped").is_not_null()).then(pl.lit(_NOT_KEPT)).otherwise(pl.lit(""))))
    )
    frame = _parse_objects(lines.select("line_no", "raw", "text", "source_file", "reason_code", "message"))
    return RawFile(source, frame, bytes_read=len(data))


def _line_offsets(data: bytes, start: int) -> np.ndarray:
    """Offsets of line starts (each line keeps its ``\\n``), plus the end: n + 1 int64 values."""
    view = np.frombuffer(data, dtype=np.uint8)
    chunk = 1 << 24  # search in 16 MiB pieces: no file-sized temporary
    found = [np.flatnonzero(view[i:i + chunk] == 10) + (i + 1) for i in range(start, len(data), chunk)]
    newlines = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
    offsets = np.empty(len(newlines) + 2, dtype=np.int64)
    offsets[0] = start
    offsets[1:-1] = newlines
    offsets[-1] = len(data)
    if offsets[-2] == len(data):  # the file ends with a newline: no empty last line
        offsets = offsets[:-1]
    return offsets


def _invalid_utf8_lines(data: bytes, offsets: np.ndarray) -> set[int]:
    """Indices of the lines that are not valid UTF-8 (usually none: one C-level pass checks that)."""
    n = len(offsets) - 1
    text = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    try:
        text.validate(full=True)
        return set()
    except pa.ArrowInvalid:
        pass
    bad: set[int] = set()
    view = memoryview(data)
    starts = offsets[:-1].tolist()
    position = int(offsets[0])
    end = int(offsets[-1])
    while position < end:  # one iteration per bad line
        try:
            codecs.utf_8_decode(view[position:end], "strict", True)
            break
        except UnicodeDecodeError as exc:
            line = bisect_right(starts, position + exc.start) - 1
            bad.add(line)
            position = int(offsets[line + 1])
    return bad


# -- parsing JSON object texts ---------------------------------------------------------------------

def _parse_objects(lines: pl.DataFrame) -> pl.DataFrame:
    """``lines`` (line_no, raw, text, source_file, reason_code, message) -> RAW_SCHEMA frame.

    One DuckDB pass checks every line and splits it into the envelope fields. A line that is
    byte-for-byte the compact rendering of those fields (what well-behaved producers write) can
    hold nothing else; the others (whitespace, another key order, unknown or repeated keys, not an
    object) get an exact second look at their type and full key list. Rows stay in line order
    throughout (results for the few special rows are scattered in), blank lines are dropped, and
    ``seq`` numbers what remains.
    """
    pending = lines["reason_code"].is_null()
    texts = pl.select(pl.when(pending).then(lines["text"])).to_series()
    try:  # usually every line is JSON; DuckDB stops at the first that is not, within milliseconds
        fields = jsontext.object_fields(texts, ENVELOPE_FIELDS, keys=False)
        fields = fields.with_columns(_valid=texts.is_not_null())
    except duckdb.Error:
        valid = jsontext.valid_json(texts)
        texts = pl.select(pl.when(valid).then(texts)).to_series()
        fields = jsontext.object_fields(texts, ENVELOPE_FIELDS, keys=False).with_columns(_valid=valid)
    fields = _strict_json(texts, fields)
    frame = pl.concat([lines, fields], how="horizontal").with_columns(
        extras=pl.lit(None, pl.Utf8), extra_keys=pl.lit(None, pl.List(pl.Utf8)),
    )
    # The compact rendering of the known fields is exactly as long as the line only if the line
    # has nothing else (no other key, no repeated key, no whitespace). Re-serialising never makes a
    # value longer except a number in exponent notation (1e6 -> 1000000.0), so lines with
    # something exponent-like take the exact path too.
    present = [pl.col(f).is_not_null().cast(pl.Int64) for f in ENVELOPE_FIELDS]
    compact_length = (
        2 + pl.sum_horizontal([pl.col(f).str.len_bytes().fill_null(0) for f in ENVELOPE_FIELDS])
        + pl.sum_horizontal([p * (len(f) + 3) for p, f in zip(present, ENVELOPE_FIELDS, strict=False)])
        + (pl.sum_horizontal(present) - 1).clip(lower_bound=0)
    )
    plain = (
        pl.col("_valid").fill_null(False)
        & pl.col("text").str.starts_with("{").fill_null(False)  # "[]" is as long as "{}"
        & (pl.col("text").str.len_bytes() == compact_length).fill_null(False)
        & ~pl.col("text").str.contains(r"[0-9][eE][-+0-9]").fill_null(True)
    )
    special = frame.select(pending & ~plain).to_series()
    blank = pl.Series([], dtype=pl.UInt32)
    if special.any():
        rows = special.arg_true()
        subset = frame[rows].with_row_index("_at").with_columns(pl.col("_at").cast(pl.Int64))
        info = jsontext.validity(pl.select(pl.when(subset["_valid"]).then(subset["text"])).to_series())
        subset = pl.concat([subset, info], how="horizontal")
        is_blank = ~subset["_valid"] & (subset["text"].str.strip_chars(" \t\r\n").str.len_bytes() == 0)
        blank = rows.filter(is_blank)
        problems = [_describe_not_objects(subset.filter(~is_blank & (pl.col("json_type").is_null() | (pl.col("json_type") != "OBJECT"))))]
        objects = subset.filter(pl.col("json_type") == "OBJECT")
        objects = objects.with_columns(_keys=jsontext.object_keys(objects["text"]))
        # a key that appears twice is ambiguous (which one counts?): reject the line
        repeated = objects.filter(pl.col("_keys").list.n_unique() < pl.col("_keys").list.len())
        problems.append(repeated.select(
            "_at", pl.lit(R.MALFORMED_JSON).alias("reason_code"),
            pl.format("line {} has the key {} more than once; send each key once.", pl.col("line_no"),
                      jsontext.json_string(pl.col("_keys").list.eval(pl.element().filter(pl.element().is_duplicated())).list.first()),
                      ).alias("message"),
        ))
        extras = _extras(objects.filter(pl.col("_keys").list.n_unique() == pl.col("_keys").list.len()))
        problems = pl.concat([p.select("_at", "reason_code", "message") for p in problems])
        if problems.height:
            at = rows.gather(problems["_at"])
            frame = frame.with_columns(
                frame["reason_code"].scatter(at, problems["reason_code"]),
                frame["message"].scatter(at, problems["message"]),
            )
        if extras.height:
            extras = extras.with_columns(_row=rows.gather(extras["_at"]).cast(pl.Int64))
            frame = (
                frame.drop("extras", "extra_keys").with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
                .join(extras.select("_row", "extras", "extra_keys"), on="_row", how="left", maintain_order="left")
                .drop("_row")
            )
    frame = _nested_problems(frame)
    if len(blank):
        keep = pl.Series(np.ones(frame.height, dtype=bool)).scatter(blank, False)
        frame = frame.filter(keep)
    frame = frame.with_columns(
        [pl.when(pl.col("reason_code").is_null()).then(pl.col(f)).alias(f) for f in (*ENVELOPE_FIELDS, "extras")]
    )
    frame = frame.with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64))
    return frame.select(list(RAW_SCHEMA)).cast(RAW_SCHEMA)


def _nested_problems(frame: pl.DataFrame) -> pl.DataFrame:
    """Refuse lines with a repeated key in any nested object, or nested too deep (``malformed_json``).

    The top level was checked above; here every object or array value of every accepted line
    (the envelope fields, unknown top-level fields) is walked level by level in DuckDB
    (:func:`jsontext.nesting_problems`), so ``{"available": {"gte": 0, "gte": 5}}`` can never be
    read as either bound, and no later step meets a value nested deeper than
    :data:`MAX_NESTING_DEPTH` levels.
    """
    accepted = pl.col("reason_code").is_null() & pl.col("_valid").fill_null(False)
    container = pl.col("text").str.starts_with("{") | pl.col("text").str.starts_with("[")
    indexed = frame.select(accepted.alias("_ok"), "extras", *ENVELOPE_FIELDS).with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    nodes = pl.concat(
        [indexed.filter(pl.col("_ok")).select("row", pl.lit(name).alias("path"), pl.col(name).alias("text"), pl.lit(2, pl.Int64).alias("depth"))
         .filter(container) for name in ENVELOPE_FIELDS]
        + [indexed.filter(pl.col("_ok") & pl.col("extras").is_not_null())
           .select("row", pl.lit("").alias("path"), pl.col("extras").alias("text"), pl.lit(1, pl.Int64).alias("depth"))]
    )
    found = jsontext.nesting_problems(nodes, MAX_NESTING_DEPTH)
    if found.is_empty():
        return frame
    line_no = frame["line_no"].gather(found["row"])
    where = pl.select(
        pl.when(found["path"].str.len_chars() > 60).then(found["path"].str.slice(0, 60) + pl.lit("…")).otherwise(found["path"])
        .str.replace_all(r"\p{Cc}", "\u2426")
    ).to_series()
    messages = pl.select(
        pl.when(found["problem"] == "repeated_key")
        .then(pl.format("line {} has the key {} more than once in {}; send each key once (a repeated key makes the "
                        "event ambiguous).", line_no, found["key"], where))
        .otherwise(pl.format("line {} nests objects and arrays more than {} levels deep (at {}); an event may be nested "
                             "at most {} levels: flatten the data or send it as a string.", line_no,
                             pl.lit(MAX_NESTING_DEPTH), where, pl.lit(MAX_NESTING_DEPTH)))
    ).to_series()
    return frame.with_columns(
        frame["reason_code"].scatter(found["row"], pl.repeat(R.MALFORMED_JSON, found.height, eager=True)),
        frame["message"].scatter(found["row"], messages),
    )


# DuckDB's parser also accepts trailing commas and NaN/Infinity, which JSON does not allow; lines
# that might hold one are re-checked with Python's strict parser (rare: a cheap scan picks them).
_LENIENT_JSON = r",[ \t\r\n]*[}\]]|NaN|Infinity"


def _strict_json(texts: pl.Series, fields: pl.DataFrame) -> pl.DataFrame:
    suspicious = (fields["_valid"].fill_null(False) & texts.str.contains(_LENIENT_JSON).fill_null(False))
    if not suspicious.any():
        return fields
    rows = suspicious.arg_true()
    strict = [_is_strict_json(text) for text in texts.gather(rows).to_list()]
    return fields.with_columns(fields["_valid"].scatter(rows, pl.Series(strict, dtype=pl.Boolean)))


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _is_strict_json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return False
    return True


def _describe_not_objects(rows: pl.DataFrame) -> pl.DataFrame:
    """Reject rows that are not one JSON object, with Python's precise parse error (rejects only)."""
    columns = ["_at", "line_no", "raw", "text", "source_file", "reason_code", "message"]
    if rows.is_empty():
        return rows.with_columns(reason_code=pl.lit(None, pl.Utf8), message=pl.lit(None, pl.Utf8)).select(columns)
    codes, messages = [], []
    for line_no, text, valid, kind in rows.select("line_no", "text", "valid", "json_type").iter_rows():
        control = _CONTROL_RE.search(text or "")
        if valid:
            article = {"ARRAY": "an array", "VARCHAR": "a string", "BOOLEAN": "a boolean", "NULL": "null"}.get(kind, "a number")
            codes.append(R.MALFORMED_JSON)
            messages.append(f"line {line_no} is {article}, not a JSON object; write one object per line, "
                            '{"event_id": ..., "event_type": ..., ...}.')
        elif control:
            codes.append(R.CONTROL_CHARACTERS)
            messages.append(f"line {line_no} contains the raw control character U+{ord(control.group()):04X} at character "
                            f"{control.start() + 1}; JSON text may not contain raw control bytes and strings must not "
                            "contain control characters at all. Remove it.")
        else:
            codes.append(R.MALFORMED_JSON)
            messages.append(f"line {line_no} is not valid JSON ({jsontext.json_error(text)}); fix the syntax "
                            "(no trailing commas, double-quoted keys, one object per line).")
    return rows.with_columns(
        reason_code=pl.Series(codes, dtype=pl.Utf8), message=pl.Series(messages, dtype=pl.Utf8)
    ).select(columns)


def _extras(objects: pl.DataFrame) -> pl.DataFrame:
    """``_at, extras, extra_keys`` for objects with unknown top-level fields (a JSON object, sorted keys)."""
    objects = objects.filter(pl.col("_keys").list.set_difference(pl.lit(list(ENVELOPE_FIELDS))).list.len() > 0)
    if objects.is_empty():
        return pl.DataFrame(schema={"_at": pl.Int64, "extras": pl.Utf8, "extra_keys": pl.List(pl.Utf8)})
    entries = jsontext.object_entries(objects["text"])
    extras = (
        entries.filter(~pl.col("key").is_in(list(ENVELOPE_FIELDS)))
        .sort("row", "key")
        .group_by("row", maintain_order=True)
        .agg(pl.concat_str([pl.col("key_json"), pl.lit(":"), pl.col("value")]).str.join(",").alias("body"),
             pl.col("key_json").alias("extra_keys"))
        .select("row", (pl.lit("{") + pl.col("body") + pl.lit("}")).alias("extras"), "extra_keys")
    )
    at = objects.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), "_at")
    return at.join(extras, on="row", how="inner").select("_at", "extras", "extra_keys")


# -- CSV -------------------------------------------------------------------------------------------

def read_csv_bytes(data: bytes, source: str, limits: ReadLimits | None = None) -> RawFile:
    """Parse an RFC 4180 CSV file with a header row; see the module docs.

    Python's C ``csv`` parser is used (not Polars') because it reports each row's field count and
    line, so a row with a missing or extra field is rejected instead of silently padded. Rows are
    rendered to JSON in pieces of about :data:`CSV_CELLS_PER_PIECE` cells, so the parser's Python
    objects never hold more than one piece; a header wider than ``limits.max_columns`` is refused
    before any row is parsed, and a physical line longer than ``limits.max_line_bytes`` refuses
    the file (a CSV row cannot be cut out of the file reliably).
    """
    limits = limits or ReadLimits()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return unreadable_file(source, f"the file is not UTF-8 text (byte {exc.start}); re-export it as UTF-8.", bytes_read=len(data))
    longest, at_line = _longest_line(data)
    if longest > limits.max_line_bytes:
        return unreadable_file(source, f"line {at_line} is {longest:,} bytes, longer than SUBLEDGER_MAX_LINE_BYTES "
                               f"({limits.max_line_bytes:,}); one event may be at most 1 MiB. Split the file or move large "
                               "content out of the events.", bytes_read=len(data))
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_line_bytes))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return unreadable_file(source, f"the CSV header row cannot be parsed ({exc}).", bytes_read=len(data))
    if header is None:
        return RawFile(source, empty_raw(), bytes_read=len(data))
    if len(header) > limits.max_columns:
        return unreadable_file(source, f"the header has {len(header):,} columns, more than SUBLEDGER_MAX_COLUMNS "
                               f"({limits.max_columns}); an event has the columns {', '.join(ENVELOPE_FIELDS)} and a few "
                               "extra ones at most. Re-export the file with the event columns only.", bytes_read=len(data))
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if missing or duplicates or any(h == "" for h in header):
        problem = (f"the header lacks the required column(s) {', '.join(missing)}" if missing else
                   f"the header repeats the column(s) {', '.join(duplicates)}" if duplicates else "the header has an empty column name")
        return unreadable_file(source, f"{problem}; the first row must name the columns "
                               f"({', '.join(ENVELOPE_FIELDS)}).", bytes_read=len(data))
    width = len(header)
    per_piece = max(1, CSV_CELLS_PER_PIECE // width)
    pieces: list[pl.DataFrame] = []
    rows: list[list[str]] = []
    first_lines: list[int] = []
    ragged: list[tuple[int, int, int]] = []  # (first line, last line, field count)
    previous = reader.line_num
    try:
        for row in reader:
            if len(row) == width:
                rows.append(row)
                first_lines.append(previous + 1)
                if len(rows) >= per_piece:
                    pieces.append(_render_csv_rows(header, rows, first_lines, source))
                    rows, first_lines = [], []
            elif row:  # csv yields [] for a blank line; a ragged row keeps only where it is
                ragged.append((previous + 1, reader.line_num, len(row)))
            previous = reader.line_num
    except csv.Error as exc:
        return unreadable_file(source, f"the CSV cannot be parsed after line {previous} ({exc}).", bytes_read=len(data))
    if rows or not pieces:
        pieces.append(_render_csv_rows(header, rows, first_lines, source))
    rendered = pl.concat(pieces) if len(pieces) > 1 else pieces[0]
    if ragged:
        source_lines = text.split("\n")
        bad = pl.DataFrame({
            "line_no": [first for first, _, _ in ragged],
            "raw": ["\n".join(source_lines[first - 1:last]).rstrip("\r").encode() for first, last, _ in ragged],
            "message": [
                f"CSV row at line {first} has {count} fields but the header has {width}; quote fields "
                "that contain commas, quotes or line breaks and double embedded quotes." for first, _, count in ragged
            ],
        }, schema={"line_no": pl.Int64, "raw": pl.Binary, "message": pl.Utf8}).with_columns(
            source_file=pl.lit(source), reason_code=pl.lit(R.MALFORMED_CSV_ROW)
        )
        rendered = pl.concat([rendered, bad], how="diagonal_relaxed").sort("line_no")
    return RawFile(source, _finish_rendered(rendered), bytes_read=len(data))


CSV_CELLS_PER_PIECE = 2_000_000  # cells parsed into Python strings before they are rendered to JSON


def _render_csv_rows(header: list[str], rows: list[list[str]], first_lines: list[int], source: str) -> pl.DataFrame:
    """One piece of CSV rows (all as wide as the header) rendered to JSON objects."""
    columns = {name: list(values) for name, values in zip(header, zip(*rows, strict=True), strict=True)} if rows else {name: [] for name in header}
    table = pl.DataFrame(columns, schema={name: pl.Utf8 for name in header})
    table = table.with_columns([pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in header])
    return _render_table(table, pl.Series("line_no", first_lines, dtype=pl.Int64), source, kind="CSV row")


def _longest_line(data: bytes) -> tuple[int, int]:
    """(length in bytes, 1-based number) of the longest physical line of ``data``."""
    offsets = _line_offsets(data, 0)
    if len(offsets) < 2:
        return 0, 1
    lengths = np.diff(offsets)
    at = int(lengths.argmax())
    return int(lengths[at]), at + 1


# -- Parquet and frames ------------------------------------------------------------------------------

def read_parquet_bytes(data: bytes, source: str, limits: ReadLimits | None = None) -> RawFile:
    """Read a Parquet file within ``limits``; see the module docs.

    The footer is checked first (columns, and the uncompressed size its row groups declare);
    dictionary-encoded columns are read as their values and ``date64`` columns as dates, so the
    same logical event gives the same outcome as in the other formats.
    """
    limits = limits or ReadLimits()
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        columns = len(parquet.schema_arrow)
        declared = sum(parquet.metadata.row_group(i).total_byte_size for i in range(parquet.metadata.num_row_groups))
        if columns > limits.max_columns:
            return unreadable_file(source, f"the file has {columns:,} columns, more than SUBLEDGER_MAX_COLUMNS "
                                   f"({limits.max_columns}); re-export it with the event columns "
                                   f"({', '.join(ENVELOPE_FIELDS)}) only.", bytes_read=len(data))
        if declared > limits.max_file_bytes:
            return unreadable_file(source, _too_big(declared, limits, "uncompressed, the file holds"), bytes_read=len(data))
        table = pl.from_arrow(_plain_arrow(_read_row_batches(data, parquet.schema_arrow, limits)))
    except _OverBudget as exc:
        return unreadable_file(source, _too_big(exc.read, limits, "decoded, the file holds"), bytes_read=len(data))
    except Exception as exc:  # noqa: BLE001 - any failure to decode means the file is unreadable
        return unreadable_file(source, f"the Parquet file cannot be read ({type(exc).__name__}: {str(exc)[:200]}); "
                               "it may be truncated or not Parquet at all. Re-export it.", bytes_read=len(data))
    assert isinstance(table, pl.DataFrame)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        return unreadable_file(source, f"the Parquet file lacks the required column(s) {', '.join(missing)}; it needs the "
                               f"columns {', '.join(ENVELOPE_FIELDS)}.", bytes_read=len(data))
    return _read_table(table, source, bytes_read=len(data))


def _read_row_batches(data: bytes, schema: pa.Schema, limits: ReadLimits) -> pa.Table:
    """The file's rows, read in batches whose decoded size is counted before they are decoded.

    Text columns are read dictionary-encoded, so a value repeated a million times (a dictionary
    bomb: a tiny file that decodes to terabytes) costs its length once; the size it would decode
    to is added up per batch, and past ``limits.max_file_bytes`` reading stops (:class:`_OverBudget`).
    """
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            or pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) or pa.types.is_dictionary(f.type)]
    parquet = pq.ParquetFile(pa.BufferReader(data), read_dictionary=text)
    batches, total = [], 0
    for batch in parquet.iter_batches(batch_size=TABLE_ROWS_PER_PIECE):
        total += sum(_decoded_bytes(column) for column in batch.columns)
        if total > limits.max_file_bytes:
            raise _OverBudget(total)
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=parquet.schema_arrow) if batches else parquet.schema_arrow.empty_table()


def _decoded_bytes(column: pa.Array) -> int:
    """How many bytes ``column`` takes once its dictionary (if any) is decoded."""
    if pa.types.is_dictionary(column.type) and len(column):
        lengths = pc.binary_length(column.dictionary) if not pa.types.is_dictionary(column.dictionary.type) else None
        if lengths is not None:
            return int(pc.sum(pc.take(lengths, column.indices)).as_py() or 0) + column.indices.nbytes
    return column.nbytes


def _plain_arrow(table: pa.Table) -> pa.Table:
    """``table`` with dictionary-encoded columns decoded and ``date64`` as ``date32``, at any depth."""
    return table.cast(pa.schema([field.with_type(_plain_type(field.type)) for field in table.schema]))


def _plain_type(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(dtype):
        return _plain_type(dtype.value_type)
    if pa.types.is_date64(dtype):
        return pa.date32()
    if pa.types.is_struct(dtype):
        return pa.struct([dtype.field(i).with_type(_plain_type(dtype.field(i).type)) for i in range(dtype.num_fields)])
    if pa.types.is_large_list(dtype):
        return pa.large_list(dtype.value_field.with_type(_plain_type(dtype.value_type)))
    if pa.types.is_list(dtype):
        return pa.list_(dtype.value_field.with_type(_plain_type(dtype.value_type)))
    if pa.types.is_fixed_size_list(dtype):
        return pa.list_(dtype.value_field.with_type(_plain_type(dtype.value_type)), dtype.list_size)
    return dtype


TABLE_ROWS_PER_PIECE = 100_000  # rows of a table rendered to JSON at a time


def _read_table(table: pl.DataFrame, source: str, *, bytes_read: int) -> RawFile:
    table, not_utf8 = _binary_as_text(table)
    pieces = []
    for offset in range(0, max(table.height, 1), TABLE_ROWS_PER_PIECE):
        piece = table.slice(offset, TABLE_ROWS_PER_PIECE)
        line_numbers = pl.int_range(offset + 1, offset + piece.height + 1, eager=True, dtype=pl.Int64).rename("line_no")
        marks = {name: mask.slice(offset, TABLE_ROWS_PER_PIECE) for name, mask in not_utf8.items()}
        pieces.append(_render_table(piece, line_numbers, source, kind="row", not_utf8=marks))
    rendered = pl.concat(pieces) if len(pieces) > 1 else pieces[0]
    return RawFile(source, _finish_rendered(rendered), bytes_read=bytes_read)


def _binary_as_text(table: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
    """Binary columns hold text as UTF-8 bytes: read them as string columns.

    A cell that is not valid UTF-8 cannot be text; its row is refused (``not_utf8`` marks those
    cells, per column). The cell is rendered with the bad bytes escaped (``\\xff``) so the
    row's ``raw`` still shows what was sent. One C-level pass validates a whole column; only the
    bad cells are looked at in Python.
    """
    not_utf8: dict[str, pl.Series] = {}
    for name, dtype in table.schema.items():
        if dtype != pl.Binary:
            continue
        column = table[name]
        arrow = column.to_arrow(compat_level=pl.CompatLevel.oldest())  # large_binary: offsets + one data buffer
        if isinstance(arrow, pa.ChunkedArray):
            arrow = arrow.combine_chunks()
        _, offsets_buffer, data_buffer = arrow.buffers()
        offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[arrow.offset:arrow.offset + len(arrow) + 1]
        data = data_buffer.to_pybytes() if data_buffer is not None else b""
        bad = sorted(_invalid_utf8_lines(data, offsets)) if len(arrow) else []
        if not bad:
            table = table.with_columns(column.cast(pl.Utf8).alias(name))
            continue
        mask = pl.Series(np.zeros(table.height, dtype=bool)).scatter(bad, True)
        good = (~mask).arg_true()
        shown = [value.decode("utf-8", "backslashreplace") for value in column.gather(bad).to_list()]
        text = (pl.repeat(None, table.height, dtype=pl.Utf8, eager=True)
                .scatter(good, column.gather(good).cast(pl.Utf8)).scatter(bad, pl.Series(shown, dtype=pl.Utf8)))
        table = table.with_columns(text.alias(name))
        not_utf8[name] = mask
    return table, not_utf8


def _value_json(name: str, dtype: pl.DataType) -> pl.Expr:
    """JSON text of one cell, by column type (strings quoted, integers bare, structs as objects)."""
    return _json_of(pl.col(name), dtype, top_level=True)


def _json_of(col: pl.Expr, dtype: pl.DataType, *, top_level: bool = False) -> pl.Expr:
    if isinstance(dtype, pl.Struct):
        # null members are left out: a Parquet struct column holds every key any row has
        parts = [
            pl.when(col.struct.field(f.name).is_not_null()).then(
                pl.lit(json.dumps(f.name, ensure_ascii=False) + ":") + _json_of(col.struct.field(f.name), f.dtype))
            for f in dtype.fields
        ]
        body = pl.concat_str(parts, separator=",", ignore_nulls=True) if parts else pl.lit("")
        return pl.when(col.is_not_null()).then(pl.lit("{") + body + pl.lit("}"))
    if isinstance(dtype, (pl.List, pl.Array)):
        # Polars' JSON writer cannot write binary (it panics): binary inside a list is read as UTF-8 text
        text_dtype = _binary_to_text(dtype)
        value = col.cast(text_dtype) if text_dtype != dtype else col
        return pl.struct(value.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")
    if dtype.is_integer() or dtype == pl.Boolean:
        return col.cast(pl.Utf8)
    if isinstance(dtype, pl.Duration):
        # not a point in time: rendered as text (ISO 8601, "P1D") and refused with a per-event reason
        return jsontext.json_string(col.dt.to_string("iso"))
    if isinstance(dtype, pl.Datetime):
        fmt = "%Y-%m-%dT%H:%M:%S%.f" + ("%:z" if dtype.time_zone else "")
        return jsontext.json_string(col.dt.to_string(fmt))
    if dtype == pl.Date:
        return jsontext.json_string(col.dt.to_string("%Y-%m-%d"))
    if dtype.is_float() and not top_level:
        return col.cast(pl.Utf8)  # a float inside a struct stays a JSON number
    # top-level floats and decimals become decimal strings, refused with a precise reason when fractional
    return jsontext.json_string(col.cast(pl.Utf8))


def _binary_to_text(dtype: pl.DataType) -> pl.DataType:
    """``dtype`` with every binary type inside it replaced by the string type."""
    if dtype == pl.Binary:
        return pl.Utf8()
    if isinstance(dtype, pl.List):
        return pl.List(_binary_to_text(dtype.inner))
    if isinstance(dtype, pl.Array):
        return pl.Array(_binary_to_text(dtype.inner), dtype.shape)
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _binary_to_text(f.dtype) for f in dtype.fields})
    return dtype


def _render_table(table: pl.DataFrame, line_numbers: pl.Series, source: str, *, kind: str,
                  not_utf8: dict[str, pl.Series] | None = None) -> pl.DataFrame:
    """Render each row as one JSON object (absent cells left out); JSON-text cells are checked.

    ``not_utf8`` marks cells of binary columns that are not UTF-8 text (:func:`_binary_as_text`):
    their rows are refused as ``malformed_json``. A table without rows renders as no rows.
    """
    schema = table.schema
    problems: list[pl.Expr] = []
    pieces: list[pl.Expr] = []
    json_text_columns = [c for c in ("payload", "metadata") if c in schema and schema[c] == pl.Utf8]
    checks = pl.DataFrame()
    if json_text_columns:  # validity() of no rows is an empty, typed frame: a header-only file has no rows
        checks = pl.concat(
            [jsontext.validity(table[c]).select(pl.col("valid").alias(f"_valid_{c}")) for c in json_text_columns],
            how="horizontal",
        )
    for name, bad in (not_utf8 or {}).items():
        checks = checks.with_columns(bad.alias(f"_not_utf8_{name}")) if checks.width else bad.alias(f"_not_utf8_{name}").to_frame()
        problems.append(
            pl.when(pl.col(f"_not_utf8_{name}")).then(pl.struct(
                reason_code=pl.lit(R.MALFORMED_JSON),
                message=pl.format("{} at line {}: the {} cell is binary data that is not UTF-8 text ({}); write text columns "
                                  "as UTF-8 strings.", pl.lit(kind), pl.col("_line_no"), pl.lit(name),
                                  pl.col(name).str.slice(0, 80)),
            ))
        )
    work = pl.concat([table, checks], how="horizontal") if checks.width else table
    for name, dtype in schema.items():
        key = jsontext.json_string(pl.lit(name))
        if name in json_text_columns:
            valid = pl.col(f"_valid_{name}")
            value = pl.when(valid).then(pl.col(name)).otherwise(jsontext.json_string(pl.col(name)))
            code = R.INVALID_PAYLOAD if name == "payload" else R.INVALID_METADATA
            problems.append(
                pl.when(pl.col(name).is_not_null() & ~valid.fill_null(True)).then(pl.struct(
                    reason_code=pl.lit(code),
                    message=pl.format("{} at line {}: the {} cell is not valid JSON ({}); write it as a JSON object "
                                      "with double-quoted keys.", pl.lit(kind), pl.col("_line_no"), pl.lit(name),
                                      pl.col(name).str.slice(0, 80)),
                ))
            )
        else:
            value = _value_json(name, dtype)
        pieces.append(pl.when(pl.col(name).is_not_null()).then(pl.concat_str([key, pl.lit(":"), value])))
    work = work.with_columns(line_numbers.alias("_line_no"))
    body = pl.concat_str(pieces, separator=",", ignore_nulls=True) if pieces else pl.lit("")
    problem = pl.coalesce(problems) if problems else pl.lit(None, pl.Struct({"reason_code": pl.Utf8, "message": pl.Utf8}))
    out = work.select(
        pl.col("_line_no").alias("line_no"),
        (pl.lit("{") + body + pl.lit("}")).alias("text"),
        problem.alias("_problem"),
    )
    return out.with_columns(
        raw=pl.col("text").cast(pl.Binary),
        source_file=pl.lit(source),
        reason_code=pl.col("_problem").struct.field("reason_code"),
        message=pl.col("_problem").struct.field("message"),
    ).drop("_problem")


def _finish_rendered(rendered: pl.DataFrame) -> pl.DataFrame:
    size = pl.col("raw").bin.size()
    rendered = rendered.with_columns(
        reason_code=pl.when(pl.col("reason_code").is_null() & (size > MAX_EVENT_BYTES)).then(pl.lit(R.EVENT_TOO_LARGE))
        .otherwise(pl.col("reason_code")),
        message=pl.when(pl.col("reason_code").is_null() & (size > MAX_EVENT_BYTES))
        .then(pl.format("the row at line {} is {} bytes as JSON; one event may be at most 1 MiB. Move large content "
                        "out of the event.", pl.col("line_no"), size))
        .otherwise(pl.col("message")),
    )
    if "text" not in rendered.columns:
        rendered = rendered.with_columns(text=pl.lit(None, pl.Utf8))
    return _parse_objects(rendered.select("line_no", "raw", "text", "source_file", "reason_code", "message"))
