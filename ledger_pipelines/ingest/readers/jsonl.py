"""JSON lines: split, checked byte by byte (UTF-8, control bytes, size) and parsed as one object per line."""


from __future__ import annotations

import codecs
import json
from bisect import bisect_right

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.readers.lines import _Lines
from ledger_pipelines.ingest.readers.raw import (
    _CONTROL_RE,
    ENVELOPE_FIELDS,
    MAX_EVENT_BYTES,
    MAX_NESTING_DEPTH,
    RAW_SCHEMA,
    RawFile,
    empty_raw,
    unreadable_file,
)

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
