"""Decimals of each currency (ISO 4217 minor units) and exact minor -> major unit formatting.

The table itself is the ingestion's (``ledger_pipelines.ingest.currencies``: JPY 0, USD 2,
KWD 3, CLF 4, ...), so reports and ingestion never disagree. Formatting is integer arithmetic:
no float ever touches an amount.
"""

from __future__ import annotations

from decimal import Decimal

from ledger_pipelines.ingest.currencies import MINOR_UNITS


class UnknownCurrency(KeyError):
    """A report row carries a currency without ISO 4217 minor units."""


def decimals(currency: str) -> int:
    """Number of decimal places of ``currency`` (e.g. 2 for USD)."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise UnknownCurrency(
            f"currency {currency!r} has no ISO 4217 minor units; amounts in it cannot be shown in major units. "
            "Check the source events' currency codes (ledger_pipelines/ingest/currencies.py lists the accepted ones)."
        ) from None


def format_minor(amount: int, places: int, *, grouped: bool = False) -> str:
    """``12345, 2 -> '123.45'``, ``-5, 3 -> '-0.005'``, ``1500, 0 -> '1500'`` (exact).

    ``grouped`` separates thousands for people: ``123456789, 2 -> '1,234,567.89'``."""
    whole, fraction = divmod(abs(amount), 10**places)
    digits = f"{whole:,}" if grouped else str(whole)
    sign = "-" if amount < 0 else ""
    return f"{sign}{digits}" if places == 0 else f"{sign}{digits}.{fraction:0{places}d}"


def format_amount(amount: int | None, currency: str, *, grouped: bool = True) -> str:
    """An amount of ``currency`` in major units for a person (thousands grouped); '' for None."""
    return "" if amount is None else format_minor(amount, decimals(currency), grouped=grouped)


def to_major(amount: int, places: int) -> Decimal:
    """The exact major-unit value, e.g. ``Decimal('123.45')``, with exactly ``places`` decimals."""
    return Decimal(format_minor(amount, places))
