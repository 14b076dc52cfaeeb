"""``subledger sql "SELECT ..."``: ask the published warehouse, read-only, without installing anything."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click

from ledger_pipelines.cli.common import emit_json, fail, format_option, output_format, settings_or_exit, table_text
from ledger_pipelines.cli.register import published_warehouse


@click.command(name="sql")
@click.argument("query")
@format_option()
def sql(query: str, fmt: str | None) -> None:
    """Run QUERY against the published warehouse (SUBLEDGER_DUCKDB_PATH), read-only.

    The tables are the warehouse's: analytics.* (the ledger mirror and daily snapshots) and
    reports.* (every report, e.g. reports.trial_balance, reports.general_ledger); see
    docs/interfaces.md. The file is opened read-only and without access to other files, so a
    query cannot change the warehouse or read or write anything else. Amounts are integer minor
    units, as stored.

    \b
    subledger sql "SELECT currency, sum(debits) FROM reports.trial_balance WHERE period = '2024-03' GROUP BY ALL"
    """
    import duckdb

    settings = settings_or_exit()
    fmt = output_format(fmt)
    path = published_warehouse(settings)
    try:
        with duckdb.connect(str(path), read_only=True, config={"enable_external_access": False}) as con:
            result = con.execute(query)
            names = [d[0] for d in result.description or []]
            rows = result.fetchall() if names else []
    except duckdb.Error as exc:
        fail(f"the query failed: {str(exc).strip()}\n       The warehouse is read-only: use SELECT (or DESCRIBE, SHOW "
             "TABLES); `subledger sql \"SHOW ALL TABLES\"` lists what there is.")
    if fmt == "json":
        emit_json([dict(zip(names, row, strict=True)) for row in rows])
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[_text(v) for v in row] for row in rows])
        click.echo(buffer.getvalue(), nl=False)
    else:
        numeric = {i for i, _ in enumerate(names) if rows and all(isinstance(r[i], (int, float, Decimal)) and
                                                                   not isinstance(r[i], bool) for r in rows if r[i] is not None)}
        click.echo(table_text(names, [[_text(v) for v in row] for row in rows], right=numeric))
        click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


COMMANDS = [sql]
