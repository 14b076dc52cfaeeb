"""A small markdown table of a report, for the metadata of its Dagster asset.

Shows the latest period's first rows in the report's export order, money in major units (exact,
as in the CSV export), so the UI shows what finance will open; a month that is not over yet is
marked month to date.
"""

from __future__ import annotations

from typing import Any

import duckdb

from ledger_pipelines.reports.catalog import ReportSpec, report
from ledger_pipelines.reports.currency_units import decimals, format_minor


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    return None if row is None else row[0]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def preview_markdown(con: duckdb.DuckDBPyConnection, name: str | ReportSpec, *, limit: int = 10,
                     period: str | None = None, columns: list[str] | None = None) -> str:
    """Markdown of up to ``limit`` rows of ``period`` (default: the latest) of a report."""
    spec = name if isinstance(name, ReportSpec) else report(name)
    if period is None:
        period = _scalar(con, f'SELECT max("{spec.period_column}") FROM {spec.relation}')
    if period is None:
        return f"*{spec.title}: no rows yet.*"
    total = _scalar(con, f'SELECT count(*) FROM {spec.relation} WHERE "{spec.period_column}" = ?', [period])
    order = ", ".join(f'"{c}"' for c in spec.order_by)
    result = con.execute(f'SELECT * FROM {spec.relation} WHERE "{spec.period_column}" = ? ORDER BY {order} LIMIT ?',
                         [period, limit])
    names = [d[0] for d in result.description]
    rows = result.fetchall()
    shown = [n for n in names if columns is None or n in columns]
    currency_at = names.index(spec.currency_column) if spec.currency_column in names else None
    lines = ["| " + " | ".join(shown) + " |", "|" + "|".join("---:" if n in spec.money_columns else "---" for n in shown) + "|"]
    for row in rows:
        cells = []
        for n in shown:
            value = row[names.index(n)]
            if n in spec.money_columns and value is not None and currency_at is not None:
                cells.append(format_minor(value, decimals(row[currency_at])))
            else:
                cells.append(_cell(value))
        lines.append("| " + " | ".join(cells) + " |")
    state = ""
    if rows and "is_month_end" in names and not rows[0][names.index("is_month_end")]:
        through = f" through {rows[0][names.index('as_of_date')]}" if "as_of_date" in names else ""
        state = f" (month to date{through}: the month is not over)"
    note = f"{spec.title}, period {period}{state}: {min(limit, total)} of {total} rows; amounts in major units."
    return note + "\n\n" + "\n".join(lines)
