"""JSON tokenising and hashing, vectorised, without losing a digit.

Why DuckDB here and not ``polars.str.json_decode``: Polars' JSON decoder turns the number
``1e3`` into the string ``"1000"`` and ``100.0`` into ``"100"`` (silently making a float look like
an integer), cannot report a value's JSON type without failing the whole chunk, and has no
SHA-256. DuckDB's JSON functions (yyjson, vectorised C++, already a project dependency) return
every field as *JSON text*: strings keep their quotes, integers keep every digit (even past 64
bits), floats keep a ``.``/exponent, objects come back compact. So the type and exact value of
every field survive into Polars, where all validation happens.

All functions take and return Polars objects; rows keep their order (checked). Nothing here
loops over rows in Python except the message helpers at the bottom, which only ever see rejected
rows.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB connection per thread (connections are not shared across threads)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(":memory:")
        con.execute("SET preserve_insertion_order = true")
        _local.con = con
    return con


def _query(sql: str, **columns: pl.Series) -> pl.DataFrame:
    """Run ``sql`` over a table ``t`` made of ``columns`` plus a row index ``i``; rows stay in order."""
    height = len(next(iter(columns.values())))
    arrays = {"i": pa.array(np.arange(height, dtype=np.int64))}
    for name, series in columns.items():
        # string views pass to DuckDB without a copy
        arrays[name] = series.to_arrow(compat_level=pl.CompatLevel.newest())
    con = _connection()
    con.register("t", pa.table(arrays))
    try:
        out = pl.from_arrow(con.sql(sql).to_arrow_table())
    finally:
        con.unregister("t")
    assert isinstance(out, pl.DataFrame)
    if out.height != height or (height > 1 and not out["i"].is_sorted()):
        raise AssertionError("DuckDB did not return one row per input row in order")
    return out.drop("i")


def _as_text(series: pl.Series) -> pl.Series:
    return series.cast(pl.Utf8).rename("t")


def validity(texts: pl.Series) -> pl.DataFrame:
    """``valid`` (is the text one JSON document) and ``json_type`` (OBJECT, ARRAY, VARCHAR, ...)."""
    if texts.is_empty():
        return pl.DataFrame(schema={"valid": pl.Boolean, "json_type": pl.Utf8})
    return _query(
        "SELECT i, json_valid(t) AS valid, CASE WHEN json_valid(t) THEN json_type(t) END AS json_type FROM t",
        t=_as_text(texts),
    )


def valid_json(texts: pl.Series) -> pl.Series:
    """Whether each text is one well-formed JSON document (null stays null)."""
    if texts.is_empty():
        return pl.Series("valid", [], dtype=pl.Boolean)
    return _query("SELECT i, json_valid(t) AS valid FROM t", t=_as_text(texts))["valid"]


def object_fields(texts: pl.Series, fields: Sequence[str], *, keys: bool = True, guarded: bool = False) -> pl.DataFrame:
    """Split JSON objects into one column of JSON text per field in ``fields`` (plus ``_keys``).

    ``texts`` must hold valid JSON (or nulls); DuckDB raises ``duckdb.Error`` otherwise. A field
    that is absent or JSON ``null`` comes back null; strings come back quoted (``"abc"``),
    numbers exactly as their digits (floats re-serialised with a ``.``), objects/arrays compact.
    With ``keys``, ``_keys`` lists every key of the object in order, duplicates included, so
    unknown and repeated keys can be spotted. With ``guarded``, texts that are not JSON are
    allowed: ``_valid`` says which are (their fields are null).
    """
    schema = {f: pl.Utf8 for f in fields} | ({"_keys": pl.List(pl.Utf8)} if keys else {}) | ({"_valid": pl.Boolean} if guarded else {})
    if texts.is_empty():
        return pl.DataFrame(schema=schema)
    structure = json.dumps({f: "JSON" for f in fields}).replace("'", "''")
    projection = ", ".join(f's."{f}"::VARCHAR AS "{f}"' for f in fields) if fields else "NULL AS _none"
    if guarded:
        key_list = ", CASE WHEN v THEN json_keys(t) END AS _keys" if keys else ""
        inner = (f"SELECT i, v AS _valid, CASE WHEN v THEN json_transform(t, '{structure}') END AS s{key_list} "
                 "FROM (SELECT i, t, json_valid(t) AS v FROM t)")
    else:
        key_list = ", json_keys(t) AS _keys" if keys else ""
        inner = f"SELECT i, json_transform(t, '{structure}') AS s{key_list} FROM t"
    extra = (", _keys" if keys else "") + (", _valid" if guarded else "")
    out = _query(f"SELECT i, {projection}{extra} FROM ({inner})", t=_as_text(texts))
    return out.select(list(schema)).cast(schema)


def object_keys(texts: pl.Series) -> pl.Series:
    """Every key of each JSON object, in order, duplicates included."""
    if texts.is_empty():
        return pl.Series("_keys", [], dtype=pl.List(pl.Utf8))
    return _query("SELECT i, json_keys(t) AS k FROM t", t=_as_text(texts))["k"].cast(pl.List(pl.Utf8)).rename("_keys")


def object_entries(texts: pl.Series) -> pl.DataFrame:
    """Every ``(row, key, key_json, value)`` of JSON objects (value as compact JSON text).

    For the rare rows that carry keys beyond the known ones. Objects with a repeated key are
    left out (their map would be ambiguous; callers reject those earlier).
    """
    schema = {"row": pl.Int64, "key": pl.Utf8, "key_json": pl.Utf8, "value": pl.Utf8}
    if texts.is_empty():
        return pl.DataFrame(schema=schema)
    out = _query(
        "SELECT i, map_keys(m) AS k, map_values(m) AS v FROM ("
        "  SELECT i, json_transform(t, '\"MAP(VARCHAR, JSON)\"') AS m FROM t)",
        t=_as_text(texts),
    )
    long = (
        out.with_row_index("row")
        .with_columns(pl.col("row").cast(pl.Int64))
        .explode("k", "v")
        .drop_nulls("k")
        .select("row", pl.col("k").alias("key"), pl.col("v").cast(pl.Utf8).alias("value"))
    )
    return long.with_columns(key_json=json_string(pl.col("key"))).select(list(schema))


def array_elements(texts: pl.Series) -> pl.Series:
    """The elements of JSON arrays as a list of compact JSON texts (null where not an array)."""
    if texts.is_empty():
        return pl.Series(texts.name, [], dtype=pl.List(pl.Utf8))
    out = _query(
        "SELECT i, CASE WHEN json_type(t) = 'ARRAY' THEN json_transform(t, '[\"JSON\"]') END AS e FROM t",
        t=_as_text(texts),
    )
    return out["e"].cast(pl.List(pl.Utf8)).rename(texts.name)


def unquote(texts: pl.Series) -> pl.Series:
    """The string value of JSON string literals (``"a\\u00e9"`` -> ``aé``); null for non-strings.

    Strings without a backslash just lose their quotes; only those with escapes go to DuckDB.
    """
    texts = texts.cast(pl.Utf8)
    is_string = texts.str.starts_with('"')
    plain = pl.select(pl.when(is_string).then(texts.str.strip_prefix('"').str.strip_suffix('"'))).to_series()
    escaped = plain.str.contains("\\", literal=True).fill_null(False)
    if not escaped.any():
        return plain.rename(texts.name)
    positions = escaped.arg_true()
    decoded = _query("SELECT i, json_extract_string(t, '$') AS v FROM t", t=_as_text(texts.gather(positions)))["v"]
    return plain.scatter(positions, decoded).rename(texts.name)


def minify(texts: pl.Series) -> pl.Series:
    """Compact re-serialisation of valid JSON texts (the same bytes for the same document)."""
    if texts.is_empty():
        return texts.cast(pl.Utf8)
    return _query("SELECT i, json(t)::VARCHAR AS v FROM t", t=_as_text(texts))["v"].rename(texts.name)


def sha256_hex(texts: pl.Series) -> pl.Series:
    """Lower-case hex SHA-256 of each text's UTF-8 bytes (stable across versions and machines)."""
    if texts.is_empty():
        return texts.cast(pl.Utf8)
    return _query("SELECT i, sha256(t) AS v FROM t", t=_as_text(texts))["v"].rename(texts.name)


def json_string(expr: pl.Expr) -> pl.Expr:
    """A JSON string literal of a text expression (``abc`` -> ``"abc"``), null stays null."""
    return (
        pl.when(expr.is_not_null())
        .then(pl.struct(expr.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}"))
        .otherwise(None)
    )


# -- message helpers: only ever called for rejected rows ---------------------------------------

class _Raw(str):
    """A number token exactly as written in the source."""


def _no_constants(name: str) -> None:
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def json_error(text: str) -> str:
    """Python's description of why ``text`` is not JSON, with line/column (for messages)."""
    try:
        json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        return f"{exc.msg} at column {exc.colno}"
    except RecursionError:
        return "nesting is too deep"
    return "it is not a single JSON object"


def duplicate_key(text: str) -> str | None:
    """The first key that appears twice in any object of ``text``, if any."""
    found: list[str] = []

    def hook(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(pairs)

    try:
        json.loads(text, object_pairs_hook=hook)
    except (json.JSONDecodeError, RecursionError):
        return None
    return found[0] if found else None


def number_token(text: str, path: Sequence[str | int]) -> str | None:
    """The JSON number token at ``path`` of ``text`` exactly as written (``1e3`` stays ``1e3``)."""
    try:
        value = json.loads(text, parse_float=_Raw, parse_int=_Raw, parse_constant=_Raw)
        for step in path:
            value = value[step]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, RecursionError):
        return None
    return str(value) if isinstance(value, _Raw) else None
