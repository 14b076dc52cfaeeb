"""Moving Polars columns into Postgres without Python per row: COPY (CSV or binary), array literals.

The generic pieces every writer borrows (the ledger's bulk path, ingestion's quarantine and
outcomes, the benchmarks): Polars or :mod:`.binary_copy` encode the rows, so no Python runs per
row. Both send the rows in chunks and pass the ``copy:<table>`` failpoint after each chunk, so the
crash tests can kill a writer with rows sent and the COPY not finished.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import polars as pl
import psycopg

from ledger_pipelines.failpoints import failpoint
from ledger_pipelines.postgres.binary_copy import SIGNATURE, TRAILER, encode_rows

COPY_CHUNK_ROWS = 200_000
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.6f%:z"


def copy_frame(conn: psycopg.Connection, table: str, frame: pl.DataFrame, columns: list[str]) -> int:
    """COPY ``frame[columns]`` into ``table`` as CSV (Polars writes it; no per-row Python)."""
    if frame.is_empty():
        return 0
    data = frame.select(columns)
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
    with conn.cursor().copy(statement) as copy:
        for chunk in data.iter_slices(COPY_CHUNK_ROWS):
            buffer = io.BytesIO()
            chunk.write_csv(buffer, include_header=False, datetime_format=DATETIME_FORMAT)
            copy.write(buffer.getvalue())
            failpoint(f"copy:{table}")  # crash tests: rows sent, COPY not finished
    return data.height


def copy_binary(conn: psycopg.Connection, table: str, frame: pl.DataFrame, column_types: Mapping[str, str]) -> int:
    """COPY ``frame`` into ``table`` in Postgres's binary format (:mod:`.binary_copy`).

    For the ledger's two hot tables: the server takes uuids, timestamps and integers as they
    are instead of parsing them from text. ``column_types`` maps each column, in COPY order, to
    its Postgres type.
    """
    if frame.is_empty():
        return 0
    statement = f"COPY {table} ({', '.join(column_types)}) FROM STDIN (FORMAT binary)"
    with conn.cursor().copy(statement) as copy:
        copy.write(SIGNATURE)
        for chunk in frame.iter_slices(COPY_CHUNK_ROWS):
            copy.write(encode_rows(chunk, column_types))
            failpoint(f"copy:{table}")  # crash tests: rows sent, COPY not finished
        copy.write(TRAILER)
    return frame.height


def array_literal(values: pl.Series) -> str:
    """``values`` as one Postgres array literal (``{"a","b\\"c",NULL}``), built by Polars.

    For a query parameter of thousands of elements (``%(ids)s::uuid[]``): psycopg would adapt a
    Python list element by element (0.3-0.8 s for the bulk path's 20k accounts); the server parses
    one string instead. Every element is quoted, with backslash and double quote escaped.
    """
    value = pl.col("v")
    quoted = pl.concat_str([
        pl.lit('"'), value.str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True), pl.lit('"'),
    ])
    elements = pl.when(value.is_null()).then(pl.lit("NULL")).otherwise(quoted)
    return "{" + pl.DataFrame({"v": values.cast(pl.Utf8)}).select(elements.str.join(",")).item() + "}"


def small_array_literal(values: Sequence[object] | None) -> str | None:
    """A short Python list as one Postgres array literal, quoted as :func:`array_literal` quotes
    (``None`` stays ``None``: SQL NULL, not an empty array).

    For the few-element arrays of a single posting (``Ledger.post``): psycopg adapts a list in
    Python, element type by element type, ~50 us of client CPU for a posting's four leg arrays
    (bench/README.md, issue 16); the server parses a string as cheaply.
    """
    if values is None:
        return None
    if not values:
        return "{}"
    # Fast paths for what a posting sends (texts, integers): joined once.
    if all(type(value) is str for value in values):
        return text_array_literal(values)  # type: ignore[arg-type]
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    return _quoted_array_literal(values)


def text_array_literal(texts: Sequence[str]) -> str:
    """A non-empty list of texts (``str`` each) as one Postgres array literal, as
    :func:`small_array_literal` writes it, without checking the elements' type: for a caller that
    holds texts already (``Ledger.post``'s account codes, each checked valid)."""
    joined = '","'.join(texts)
    if '"' not in joined and "\\" not in joined:
        return '{"' + joined + '"}'
    return _quoted_array_literal(texts)


def _quoted_array_literal(values: Sequence[object]) -> str:
    quoted = ("NULL" if value is None else '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
              for value in values)
    return "{" + ",".join(quoted) + "}"
