"""Parquet files and Polars frames (the outbox): each row rendered to the JSON object text of an event."""


from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.readers.jsonl import _invalid_utf8_lines, _parse_objects
from ledger_pipelines.ingest.readers.lines import _OverBudget, _too_big
from ledger_pipelines.ingest.readers.raw import (
    ENVELOPE_FIELDS,
    MAX_EVENT_BYTES,
    REQUIRED_COLUMNS,
    RawFile,
    ReadLimits,
    unreadable_file,
)


def read_frame(frame: pl.DataFrame, source: str = "frame") -> RawFile:
    """Read events given as a Polars frame with the envelope columns (e.g. the outbox)."""
    return _read_table(frame, source, bytes_read=int(frame.estimated_size()))


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
