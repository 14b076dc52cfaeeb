"""Postgres binary COPY from Polars frames, encoded column by column with Arrow kernels.

Why: a text (CSV) COPY makes the server parse every uuid, timestamp and integer from text; for
the ledger's two hot tables that parsing was about half of a plain COPY's server time. In the
binary format the server copies those values as they are (``bench/README.md`` has the figures).

The format (Postgres docs, "COPY ... Binary Format"): an 11-byte signature, two 32-bit header
words, then per row a 16-bit field count and per field a 32-bit big-endian length (-1 for NULL)
followed by the value in the type's binary ("send") representation, and a 16-bit -1 trailer.

Each column is turned into one Arrow binary array of whole encoded fields (length word + value)
and the rows are joined with ``binary_join_element_wise``, so the work is a handful of
vectorised kernels per column, never a Python loop over rows. Only the types the ledger writes
are supported; an unexpected dtype or a value that does not fit is an error, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # signature, flags, extension
TRAILER = b"\xff\xff"
NULL_FIELD = b"\xff\xff\xff\xff"
JSONB_VERSION = b"\x01"
POSTGRES_EPOCH_MICROSECONDS = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
SUPPORTED_TYPES = ("uuid", "text", "jsonb", "timestamptz", "int8", "int4")

_HEX_VALUE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_VALUE[_c] = 10 + _i
_UUID_HEX_POSITIONS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def encode_rows(frame: pl.DataFrame, column_types: Mapping[str, str]) -> memoryview:
    """The binary COPY rows (no signature or trailer) of ``frame[list(column_types)]``."""
    n = frame.height
    field_count = _fixed_width(np.full((n, 1), len(column_types), dtype=">i2").view(np.uint8).reshape(n, 2))
    fields = [_encode_column(frame.get_column(name), kind) for name, kind in column_types.items()]
    rows = pc.binary_join_element_wise(field_count, *fields, pa.scalar(b"", pa.large_binary()))
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset:rows.offset + n + 1]
    return memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]]


def _encode_column(series: pl.Series, kind: str) -> pa.Array:
    nulls = series.is_null().to_numpy()
    if kind == "uuid":
        values = _uuid_bytes(series)
    elif kind == "timestamptz":
        if not isinstance(series.dtype, pl.Datetime):
            raise TypeError(f"column {series.name!r}: timestamptz needs a Datetime column, got {series.dtype}")
        micros = series.dt.replace_time_zone(None).dt.cast_time_unit("us").to_physical().fill_null(0).to_numpy()
        values = (micros - POSTGRES_EPOCH_MICROSECONDS).astype(">i8").view(np.uint8).reshape(-1, 8)
    elif kind in ("int8", "int4"):
        if not series.dtype.is_integer():
            raise TypeError(f"column {series.name!r}: {kind} needs an integer column, got {series.dtype}")
        target = pl.Int64 if kind == "int8" else pl.Int32
        try:
            ints = series.cast(target, strict=True).fill_null(0).to_numpy()
        except pl.exceptions.InvalidOperationError as error:  # out of range: refused, never wrapped
            raise ValueError(f"column {series.name!r}: a value does not fit a Postgres {kind}") from error
        width = 8 if kind == "int8" else 4
        values = ints.astype(f">i{width}").view(np.uint8).reshape(-1, width)
    elif kind in ("text", "jsonb"):
        return _variable_width(series, prefix=JSONB_VERSION if kind == "jsonb" else b"", nulls=nulls)
    else:
        raise ValueError(f"column {series.name!r}: type {kind!r} is not one of {SUPPORTED_TYPES}")
    length = np.full((len(values), 1), values.shape[1], dtype=">i4").view(np.uint8).reshape(-1, 4)
    return _with_nulls(_fixed_width(np.hstack([length, values])), nulls)


def _uuid_bytes(series: pl.Series) -> np.ndarray:
    """16 bytes per value from canonical 8-4-4-4-12 hex text (NULLs become zeros, masked later)."""
    if series.dtype != pl.Utf8:
        raise TypeError(f"column {series.name!r}: uuid needs UUID text, got {series.dtype}")
    text = _large_binary(series.fill_null("00000000-0000-0000-0000-000000000000").cast(pl.Binary).to_arrow())
    chars = _fixed_width_values(text, 36, series.name, "a uuid in 8-4-4-4-12 form")
    digits = _HEX_VALUE[chars[:, _UUID_HEX_POSITIONS]]
    dashes = chars[:, [8, 13, 18, 23]]
    if (digits == 255).any() or (dashes != ord("-")).any():
        raise ValueError(f"column {series.name!r}: a value is not a uuid in 8-4-4-4-12 form")
    return (digits[:, 0::2] << 4) | digits[:, 1::2]


def _variable_width(series: pl.Series, *, prefix: bytes, nulls: np.ndarray) -> pa.Array:
    if series.dtype != pl.Utf8:
        raise TypeError(f"column {series.name!r}: text/jsonb needs a string column, got {series.dtype}")
    values = _large_binary(series.cast(pl.Binary).to_arrow())
    lengths = pc.binary_length(values).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64) + len(prefix)
    if lengths.size and lengths.max() > np.iinfo(np.int32).max:
        raise ValueError(f"column {series.name!r}: a value is longer than a Postgres field can be")
    head = lengths.astype(">i4").view(np.uint8).reshape(-1, 4)
    if prefix:
        head = np.hstack([head, np.tile(np.frombuffer(prefix, dtype=np.uint8), (len(head), 1))])
    joined = pc.binary_join_element_wise(_fixed_width(head), values, pa.scalar(b"", pa.large_binary()))
    return _with_nulls(joined, nulls)


def _fixed_width(matrix: np.ndarray) -> pa.Array:
    """One large_binary value per row of a uint8 matrix (zero-copy views of the same bytes)."""
    n, width = matrix.shape
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _fixed_width_values(array: pa.Array, width: int, name: str, what: str) -> np.ndarray:
    """The bytes of a binary array whose values all have ``width`` bytes, as an (n, width) matrix."""
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + n + 1]
    if n and not (np.diff(offsets) == width).all():
        raise ValueError(f"column {name!r}: a value is not {what}")
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]] if n else np.empty(0, np.uint8)
    return data.reshape(n, width)


def _large_binary(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous large_binary array (Polars hands out views, possibly in chunks)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array.cast(pa.large_binary())


def _with_nulls(fields: pa.Array, nulls: np.ndarray) -> pa.Array:
    if not nulls.any():
        return fields
    return pc.if_else(pa.array(nulls), pa.scalar(NULL_FIELD, pa.large_binary()), fields)
