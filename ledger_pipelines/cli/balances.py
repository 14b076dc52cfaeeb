"""``subledger balance`` / ``subledger balances``: what the ledger holds, now or as of a time."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import click

from ledger_pipelines.accounting.balances import Balance
from ledger_pipelines.accounting.calendar import TimeInputError, parse_instant
from ledger_pipelines.accounting.money import UnknownCurrency, format_amount, is_alpha3
from ledger_pipelines.cli.common import (
    dsns_or_exit,
    emit_json,
    fail,
    format_option,
    output_format,
    settings_or_exit,
    table_text,
    user_errors,
)
from ledger_pipelines.ledger import balances as ledger_balances
from ledger_pipelines.postgres.database import connect

FIELDS = ["currency", "posted", "pending", "available", "as_of", "version"]  # + lock_version for accounts


def _instant(value: str | None, settings, what: str) -> datetime | None:
    """``--as-of``/``--known-at`` as an aware datetime; a usage error naming the option otherwise."""
    if value is None:
        return None
    try:
        instant = parse_instant(value, settings.tz, what=what)
        instant.astimezone(UTC)  # must be representable in UTC too (queries, JSON)
    except TimeInputError as exc:
        message = str(exc)
        raise _bad_option(what, message.removeprefix(f"{what} ")) from exc
    except (OverflowError, ValueError) as exc:
        raise _bad_option(
            what, f"{value.strip()!r} is out of the supported range (years 0001-9999 in UTC and in "
                  f"SUBLEDGER_TIMEZONE={settings.timezone}); give a time between 0001-01-02 and 9999-12-30."
        ) from exc
    return instant


def _bad_option(name: str, message: str) -> click.BadParameter:
    """A usage error shown as "Invalid value for '--as-of': ..." (exit 2)."""
    ctx = click.get_current_context(silent=True)
    param = next((p for p in ctx.command.params if name in getattr(p, "opts", ())), None) if ctx else None
    return click.BadParameter(message, ctx=ctx, param=param, param_hint=None if param else f"'{name}'")


def _currency(ctx, param, value: str | None) -> str | None:
    if value is not None and not is_alpha3(value):
        raise click.BadParameter(f"{value!r} is not an ISO 4217 alpha-3 code; write it in upper case, e.g. USD, EUR, JPY.")
    return value


as_of_option = click.option(
    "--as-of", help="A date YYYY-MM-DD (end of that day in SUBLEDGER_TIMEZONE) or a timestamp with offset. Default: now."
)
known_at_option = click.option(
    "--known-at", help="System time: answer as the ledger stood then (only entries recorded by then)."
)


@click.command()
@click.argument("account")
@as_of_option
@known_at_option
@click.option("--currency", callback=_currency, help="Only this currency (ISO 4217, e.g. USD).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object, or a list if the account holds several currencies.")
def balance(account: str, as_of: str | None, known_at: str | None, currency: str | None, as_json: bool) -> None:
    """One account's posted, pending and available balances.

    In major units (the currency's decimals); --json in integer minor units with the balance's
    version and the account's lock_version.
    """
    settings = settings_or_exit()
    as_of_at, known = _instant(as_of, settings, "--as-of"), _instant(known_at, settings, "--known-at")
    dsns = dsns_or_exit(settings)
    with user_errors(), connect(dsns.reader_dsn) as conn:
        if ledger_balances.get_account(conn, account) is None:
            fail(f"no account is named {account!r}. `subledger balances` lists the accounts that exist.")
        found = ledger_balances.balances(conn, [account], currency=currency, as_of=as_of_at, known_at=known)
        if not found and currency:
            found = [ledger_balances.balance(conn, account, currency, as_of=as_of_at, known_at=known)]
    documents = [b.as_dict() for b in found]
    if as_json:  # minor units, with the versions a producer sends as a leg's lock_version
        emit_json(documents[0] if len(documents) == 1 else documents)
        return
    for doc in documents:
        amounts = {k: _major(doc[k], doc["currency"]) for k in ("posted", "pending", "available")}
        click.echo(f"{doc['account']} {doc['currency']}: posted {amounts['posted']}, pending {amounts['pending']}, "
                   f"available {amounts['available']} (as of {doc['as_of']})")
    if not documents:
        click.echo(f"{account}: no entries yet.")


def _major(amount: int, currency: str) -> str:
    """An amount in major units for a person; a currency without known decimals stays in minor units."""
    try:
        return format_amount(amount, currency)
    except UnknownCurrency:
        return f"{amount} (minor units)"


@click.command()
@as_of_option
@known_at_option
@click.option("--category", "prefix", help="Balances of every category under PREFIX instead of every account.")
@format_option()
def balances(as_of: str | None, known_at: str | None, prefix: str | None, fmt: str | None) -> None:
    """Every account's balances (or every category's under --category).

    A table in major units (the currency's decimals) for people; JSON and CSV in integer minor
    units with the balance versions, for scripts.
    """
    fmt = output_format(fmt)
    settings = settings_or_exit()
    as_of_at, known = _instant(as_of, settings, "--as-of"), _instant(known_at, settings, "--known-at")
    dsns = dsns_or_exit(settings)
    with user_errors(), connect(dsns.reader_dsn) as conn:
        if prefix is not None:
            category = conn.execute("SELECT 1 FROM ledger.categories WHERE code = %s", [prefix]).fetchone()
            if category is None:
                fail(f"no category is named {prefix!r}. Categories are the prefixes of account codes (e.g. 'assets', "
                     "'assets:receivables') and the configured groups; `subledger balances` lists the accounts.")
            rows: list[Balance] = ledger_balances.category_balances(conn, prefix, as_of=as_of_at, known_at=known)
            key = "category"
        else:
            rows = ledger_balances.balances(conn, None, as_of=as_of_at, known_at=known)
            key = "account"
    documents = [b.as_dict(key) for b in rows]
    if fmt == "json":
        emit_json(documents)
        return
    if fmt == "table":
        _print_table(documents, key)
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[key, *FIELDS] + (["lock_version"] if key == "account" else []), lineterminator="\n")
    writer.writeheader()
    for doc in documents:
        writer.writerow({k: ("" if v is None else v) for k, v in doc.items()})
    click.echo(out.getvalue(), nl=False)


def _print_table(documents: list[dict], key: str) -> None:
    if not documents:
        click.echo("No balances yet: nothing has been posted." if key == "account" else "No balances under this category yet.")
        return
    rows = [[d[key], d["currency"], *(_major(d[k], d["currency"]) for k in ("posted", "pending", "available"))]
            for d in documents]
    click.echo(table_text([key.capitalize(), "Currency", "Posted", "Pending", "Available"], rows, right={2, 3, 4}))
    click.echo(f"\nAs of {documents[0]['as_of']}; amounts in major units of each currency.")


COMMANDS = [balance, balances]
