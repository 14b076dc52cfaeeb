"""Running the warehouse's DuckDB SQL files (``sql/warehouse/...``) with named parameters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from ledger_pipelines.paths import read_sql

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def statements(text: str) -> list[str]:
    """Split a SQL file into statements without their comment lines (';' ends a line in our files)."""
    out = []
    for chunk in re.split(r";\s*(?:\n|$)", text):
        body = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            out.append(body)
    return out


def run(conn: duckdb.DuckDBPyConnection, text: str, params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Execute every statement of ``text``; each gets only the ``$name`` parameters it uses."""
    params = params or {}
    result = conn
    for statement in statements(text):
        used = {name: params[name] for name in set(_PARAM.findall(statement)) if name in params}
        missing = set(_PARAM.findall(statement)) - set(used)
        if missing:
            raise KeyError(f"SQL parameters {sorted(missing)} not given for statement: {statement[:120]}")
        result = conn.execute(statement, used) if used else conn.execute(statement)
    return result


def run_file(conn: duckdb.DuckDBPyConnection, relative: str, params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
    """Execute ``sql/<relative>``; returns the connection holding the last statement's result."""
    return run(conn, read_sql(relative), params)


def rows(conn: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | list | None = None) -> list[tuple]:
    """All rows of ``query`` (fetched to the end: DuckDB refuses new work while a result is open)."""
    return (conn.execute(query, params) if params else conn.execute(query)).fetchall()


def scalar(conn: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | list | None = None) -> Any:
    """The single value of ``query``."""
    found = rows(conn, query, params)
    return found[0][0] if found else None


@contextmanager
def setting(conn: duckdb.DuckDBPyConnection, name: str, value: Any) -> Iterator[None]:
    """``SET name = value`` for the block, then back to the value it had."""
    before = scalar(conn, "SELECT current_setting($name)", {"name": name})
    conn.execute(f"SET {name} = $value", {"value": value})
    try:
        yield
    finally:
        conn.execute(f"SET {name} = $value", {"value": before})
