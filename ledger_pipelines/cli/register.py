"""``subledger register ACCOUNT``: an account's (or category's) entries with the running balance."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import click

from ledger_pipelines.cli.common import emit_json, fail, format_option, output_format, settings_or_exit, table_text


def _day(_ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2024-03-31.") from None


def published_warehouse(settings) -> Path:
    """The published warehouse file finance reads; exit 1 saying how to make it if there is none yet."""
    path: Path = settings.duckdb_path
    if not path.exists():
        fail(f"{path} does not exist yet: build the warehouse and the reports first (`subledger run`, or "
             "`subledger demo`).")
    return path


@click.command()
@click.argument("account")
@click.option("--from", "start", callback=_day, metavar="YYYY-MM-DD", help="First posting day (default: the beginning).")
@click.option("--to", "end", callback=_day, metavar="YYYY-MM-DD", help="Last posting day (default: the latest).")
@click.option("--category", is_flag=True, help="ACCOUNT is a category (a code prefix or a group): every member account.")
@click.option("--currency", help="Only this currency (ISO 4217, e.g. USD).")
@format_option()
def register(account: str, start: date | None, end: date | None, category: bool, currency: str | None,
             fmt: str | None) -> None:
    """The entries of ACCOUNT (or, with --category, of every account under it) with the running balance.

    Per currency: the opening balance, every posted entry by the day it counted (its posting day
    in SUBLEDGER_TIMEZONE) and the closing balance, signed by the normal balance. Read from the
    published warehouse (as current as the last `subledger run`). Table and CSV in major units;
    JSON in integer minor units.
    """
    import duckdb

    from ledger_pipelines.reports.register import RegisterError, account_register

    if start and end and start > end:
        raise click.BadParameter(f"--from {start} is after --to {end}.", param_hint="'--from'")
    settings = settings_or_exit()
    fmt = output_format(fmt)
    with duckdb.connect(str(published_warehouse(settings)), read_only=True) as con:
        try:
            found = account_register(con, account, category=category, start=start, end=end, currency=currency)
        except RegisterError as exc:
            fail(str(exc))
        except duckdb.CatalogException:
            fail(f"{settings.duckdb_path} has no general ledger yet: build the reports (`subledger run`).")
    if fmt == "json":
        emit_json(found.as_json())
    elif fmt == "csv":
        click.echo(_csv(found), nl=False)
    else:
        _print(found)


def _rows(found) -> list[tuple[str, str, str, str, str, int | None, int | None, int]]:
    """(currency, day, account, reference, description, debit, credit, balance) with opening and closing lines."""
    out = []
    for c in found.currencies:
        out.append((c.currency, "", "", "", "Opening balance", None, None, c.opening))
        for line in c.lines:
            text = line.description or line.event_type or ""
            out.append((c.currency, line.posting_date.isoformat(), line.account, line.reference or "", text,
                        line.debit or None, line.credit or None, line.balance))
        out.append((c.currency, "", "", "", "Closing balance", c.debits, c.credits, c.closing))
    return out


def _csv(found) -> str:
    from ledger_pipelines.accounting.money import format_amount

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["currency", "posting_date", "account", "reference", "description", "debit", "credit", "balance"])
    for cur, day, account, reference, text, debit, credit, balance in _rows(found):
        writer.writerow([cur, day, account, reference, text, format_amount(debit, cur, grouped=False),
                         format_amount(credit, cur, grouped=False), format_amount(balance, cur, grouped=False)])
    return buffer.getvalue()


def _print(found) -> None:
    from ledger_pipelines.accounting.money import format_amount

    span = f"{found.start or 'the beginning'} to {found.end or 'the latest day'}"
    click.echo(f"{found.kind.capitalize()} {found.key} ({found.normal_balance}-normal), posted entries by posting day, "
               f"{span}; amounts in major units.")
    if not found.currencies:
        click.echo("No posted entries in that range.")
        return
    many = found.kind == "category"
    for cur in (c.currency for c in found.currencies):
        rows = [[day, *([account] if many else []), reference, text[:60], format_amount(debit, cur),
                 format_amount(credit, cur), format_amount(balance, cur)]
                for c, day, account, reference, text, debit, credit, balance in _rows(found) if c == cur]
        header = ["Date", *(["Account"] if many else []), "Reference", "Description", "Debit", "Credit", "Balance"]
        width = len(header)
        click.echo(f"\n{cur}")
        click.echo(table_text(header, rows, right={width - 3, width - 2, width - 1}))


COMMANDS = [register]
