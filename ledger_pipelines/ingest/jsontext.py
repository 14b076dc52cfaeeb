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
    left out (their map would be ambiguous; callers reject those earlier). A JSON ``null``
    value comes back as the text ``null`` (not as a missing value), so it is never dropped.
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
        .select("row", pl.col("k").alias("key"), pl.col("v").cast(pl.Utf8).fill_null("null").alias("value"))
    )
    return long.with_columns(key_json=json_string(pl.col("key"))).select(list(schema))


_NESTING_PROBLEMS = {"row": pl.Int64, "problem": pl.Utf8, "key": pl.Utf8, "path": pl.Utf8}


def nesting_problems(nodes: pl.DataFrame, max_depth: int) -> pl.DataFrame:
    """Repeated keys and too deep nesting anywhere inside JSON values, one level per DuckDB pass.

    ``nodes`` (``row``, ``path``, ``text``, ``depth``): JSON texts of values (objects and arrays;
    anything else is skipped), where they sit (``payload``; ``""`` for an object whose members
    are named by their own keys) and their nesting level (the event object itself is level 1).
    Each pass splits every object and array of the current level into its members (objects
    with a repeated key are reported, not split), so the whole tree of every value is walked
    without Python recursion and without decoding anything into Python objects; a container
    deeper than ``max_depth`` is reported without being parsed. A value without a bracket after
    its first character has no members to split: its keys are all there is to check (most
    payloads and metadata stop at the first level). Identical root texts (the same metadata
    object on every row) are walked once.

    Returns ``row, problem ('repeated_key' | 'too_deep'), key (the repeated key as a JSON string
    literal), path (where the problem is)``: the first (shallowest) problem of each row that has one.
    """
    containers = nodes.filter(pl.col("text").str.starts_with("{") | pl.col("text").str.starts_with("["))
    if containers.is_empty():
        return pl.DataFrame(schema=_NESTING_PROBLEMS)
    roots = containers.select("text", "depth", "path").unique().with_row_index("root").with_columns(pl.col("root").cast(pl.Int64))
    frontier = roots.select("root", "text", "depth", "path")
    found: list[pl.DataFrame] = []
    while frontier.height:
        deep = frontier.filter(pl.col("depth") > max_depth)
        if deep.height:
            found.append(deep.select("root", pl.lit("too_deep").alias("problem"), pl.lit(None, pl.Utf8).alias("key"), "path", "depth"))
            frontier = frontier.filter(pl.col("depth") <= max_depth)
            if frontier.is_empty():
                break
        text = pl.col("text")
        frontier = frontier.with_columns(
            _object=text.str.starts_with("{"),
            # no bracket after the first character: no member is an object or array (a bracket inside a
            # string only costs a closer look)
            _nested=text.str.slice(1).str.contains(r"[\[{]"),
        )
        objects = frontier.filter(pl.col("_object"))
        if objects.height:  # a repeated key: one cheap pass over the keys of every object
            keys = _query("SELECT i, json_keys(t) AS k FROM t", t=_as_text(objects["text"]))["k"].cast(pl.List(pl.Utf8))
            repeated = objects.select("root", "path", "depth", keys.alias("k")).filter(
                pl.col("k").list.n_unique() < pl.col("k").list.len())
            if repeated.height:
                found.append(repeated.select(
                    "root", pl.lit("repeated_key").alias("problem"),
                    json_string(pl.col("k").list.eval(pl.element().filter(pl.element().is_duplicated())).list.first()).alias("key"),
                    "path", "depth",
                ))
                frontier = frontier.filter(~pl.col("root").is_in(repeated["root"].implode()))
        frontier = frontier.filter(pl.col("_nested"))
        if frontier.is_empty():
            break
        split = _query(
            "SELECT i, CASE WHEN o THEN map_keys(m) END AS ck, CASE WHEN o THEN map_values(m) ELSE a END AS cv FROM ("
            "  SELECT i, o, CASE WHEN o THEN json_transform(t, '\"MAP(VARCHAR, JSON)\"') END AS m,"
            "         CASE WHEN NOT o THEN json_transform(t, '[\"JSON\"]') END AS a FROM t)",
            t=_as_text(frontier["text"]), o=frontier["_object"].rename("o"),
        )
        level = pl.concat([frontier.select("root", "depth", "path"), split.select(
            pl.col("ck").cast(pl.List(pl.Utf8)), pl.col("cv").cast(pl.List(pl.Utf8)),
        )], how="horizontal")
        level = level.filter(pl.col("cv").list.len() > 0)
        container = pl.col("cv").str.starts_with("{") | pl.col("cv").str.starts_with("[")
        members = level.filter(pl.col("ck").is_not_null()).explode("ck", "cv").filter(container).select(
            "root", "cv", "depth",
            pl.when(pl.col("path") == "").then(pl.col("ck")).otherwise(pl.col("path") + pl.lit(".") + pl.col("ck")).alias("path"),
        )
        elements = (
            level.filter(pl.col("ck").is_null()).with_columns(index=pl.int_ranges(pl.col("cv").list.len()))
            .explode("cv", "index").filter(container)
            .select("root", "cv", "depth", pl.format("{}[{}]", pl.col("path"), pl.col("index")).alias("path"))
        )
        frontier = pl.concat([members, elements]).select(
            "root", pl.col("cv").alias("text"), (pl.col("depth") + 1).alias("depth"), pl.col("path").str.slice(0, 200),
        )
    if not found:
        return pl.DataFrame(schema=_NESTING_PROBLEMS)
    per_root = pl.concat(found).sort("depth").unique("root", keep="first")
    flagged = per_root.join(
        roots.select("root", "text", pl.col("depth").alias("root_depth"), pl.col("path").alias("root_path")), on="root"
    ).select("text", "root_depth", "root_path", "problem", "key", pl.col("path").alias("where"), pl.col("depth").alias("at"))
    hits = containers.join(flagged, left_on=["text", "depth", "path"], right_on=["text", "root_depth", "root_path"])
    return (
        hits.sort("row", "at").unique("row", keep="first", maintain_order=True)
        .select("row", "problem", "key", pl.col("where").alias("path")).cast(_NESTING_PROBLEMS)
    )


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
