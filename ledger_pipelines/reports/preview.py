"""A small markdown table of a report, for the metadata of its Dagster asset.

Shows the latest period's first rows in the report's export order, money in major units (exact,
as in the CSV export), so the UI shows what finance will open; a month that is not over yet is
marked month to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from ledger_pipelines.accounting.money import decimals, format_minor
from ledger_pipelines.reports.catalog import ReportSpec, report


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    return None if row is None else row[0]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)


def _escape(cell: str) -> str:
    """A cell's text inside a markdown table."""
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


@dataclass(frozen=True)
class Preview:
    """Up to ``limit`` rows of a report's period, every cell as the text finance sees (major units)."""

    note: str  # title, period (and "month to date" when the month is not over), rows shown of how many
    columns: list[str]
    money_columns: list[str]
    rows: list[list[str]]


def preview(con: duckdb.DuckDBPyConnection, name: str | ReportSpec, *, limit: int = 10,
            period: str | None = None, columns: list[str] | None = None) -> Preview:
    """Up to ``limit`` rows of ``period`` (default: the latest) of a report, in its export order."""
    spec = name if isinstance(name, ReportSpec) else report(name)
    if period is None:
        period = _scalar(con, f'SELECT max("{spec.period_column}") FROM {spec.relation}')
    if period is None:
        return Preview(f"{spec.title}: no rows yet.", [], [], [])
    total = _scalar(con, f'SELECT count(*) FROM {spec.relation} WHERE "{spec.period_column}" = ?', [period])
    order = ", ".join(f'"{c}"' for c in spec.order_by)
    result = con.execute(f'SELECT * FROM {spec.relation} WHERE "{spec.period_column}" = ? ORDER BY {order} LIMIT ?',
                         [period, limit])
    names = [d[0] for d in result.description]
    rows = result.fetchall()
    shown = [n for n in names if columns is None or n in columns]
    currency_at = names.index(spec.currency_column) if spec.currency_column in names else None
    cells = []
    for row in rows:
        line = []
        for n in shown:
            value = row[names.index(n)]
            if n in spec.money_columns and value is not None and currency_at is not None:
                line.append(format_minor(value, decimals(row[currency_at])))
            else:
                line.append(_text(value))
        cells.append(line)
    state = ""
    if rows and "is_month_end" in names and not rows[0][names.index("is_month_end")]:
        through = f" through {rows[0][names.index('as_of_date')]}" if "as_of_date" in names else ""
        state = f" (month to date{through}: the month is not over)"
    note = f"{spec.title}, period {period}{state}: {min(limit, total)} of {total} rows; amounts in major units."
    return Preview(note, shown, [n for n in shown if n in spec.money_columns], cells)


def preview_markdown(con: duckdb.DuckDBPyConnection, name: str | ReportSpec, *, limit: int = 10,
                     period: str | None = None, columns: list[str] | None = None) -> str:
    """Markdown of :func:`preview` (the note, then a table)."""
    shown = preview(con, name, limit=limit, period=period, columns=columns)
    if not shown.columns:
        return f"*{shown.note}*"
    lines = ["| " + " | ".join(shown.columns) + " |",
             "|" + "|".join("---:" if n in shown.money_columns else "---" for n in shown.columns) + "|"]
    lines += ["| " + " | ".join(_escape(cell) for cell in row) + " |" for row in shown.rows]
    return shown.note + "\n\n" + "\n".join(lines)
