"""Money: ISO 4217 currency codes, their minor units, and amounts shown in major units.

Rule (source-events.md, interfaces.md): money is an integer number of the currency's minor unit
(cents for USD, yen for JPY, fils for KWD) everywhere -- never a float, not even for display. A
currency is an active ISO 4217 alpha-3 code; the table's exponent is what a person's view divides
by, with integer arithmetic only (:func:`format_minor`). Codes whose minor unit ISO lists as "N.A."
(precious metals XAU/XAG/XPT/XPD, XDR, the bond-market units XBA..XBD, XSU, XUA, the test code
XTS and "no currency" XXX) cannot carry a money amount and are not accepted. Codes recently
superseded but still seen in exports during their transition (ANG, CUC, SLL, ZWL) are kept.
"""

from __future__ import annotations

from decimal import Decimal

MINOR_UNITS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2,
    "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BOV": 2,
    "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2,
    "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4, "CLP": 0, "CNY": 2, "COP": 2, "COU": 2,
    "CRC": 2, "CUC": 2, "CUP": 2, "CVE": 2, "CZK": 2,
    "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2,
    "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2,
    "FJD": 2, "FKP": 2,
    "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2,
    "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2,
    "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0,
    "JMD": 2, "JOD": 3, "JPY": 0,
    "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2,
    "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3,
    "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2,
    "MWK": 2, "MXN": 2, "MXV": 2, "MYR": 2, "MZN": 2,
    "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2,
    "OMR": 3,
    "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0,
    "QAR": 2,
    "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0,
    "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SLL": 2, "SOS": 2,
    "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2,
    "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2,
    "UAH": 2, "UGX": 0, "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2,
    "VED": 2, "VES": 2, "VND": 0, "VUV": 0,
    "WST": 2,
    "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0, "XPF": 0,
    "YER": 2,
    "ZAR": 2, "ZMW": 2, "ZWG": 2, "ZWL": 2,
}

CODES: frozenset[str] = frozenset(MINOR_UNITS)


def is_alpha3(code: object) -> bool:
    """Whether ``code`` has the shape of a currency code: three upper-case ASCII letters (the ledger
    stores any such code; ingestion also requires it to be in :data:`CODES`)."""
    return isinstance(code, str) and len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


class UnknownCurrency(KeyError):
    """A report row carries a currency without ISO 4217 minor units."""


def decimals(currency: str) -> int:
    """Number of decimal places of ``currency`` (e.g. 2 for USD); :class:`UnknownCurrency` if it has none."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise UnknownCurrency(
            f"currency {currency!r} has no ISO 4217 minor units; amounts in it cannot be shown in major units. "
            "Check the source events' currency codes (ledger_pipelines/accounting/money.py lists the accepted ones)."
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
