"""Accounts: code paths, normal balances, creation on first use.

An account is named by a ``:``-separated code path (``assets:receivables:sub_42``): 1 to 32
segments of 1 to 64 printable characters other than ``:``, in any script, stored verbatim and
compared exactly. Every prefix of the path is a category. The top-level segment sets the normal
balance (``ledger.account_types``: assets and expenses are debit-normal; liabilities, equity,
revenue and income credit-normal; more can be configured).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

import polars as pl
import psycopg

from ledger_pipelines.ledger.errors import InvalidTransaction
from ledger_pipelines.ledger.ids import account_id_column
from ledger_pipelines.paths import read_sql

MAX_SEGMENTS = 32
MAX_SEGMENT_LENGTH = 64
# Unicode categories that are not printable: controls, surrogates, private use, unassigned,
# line/paragraph separators. Format characters are refused when they are bidirectional
# overrides/isolates, which can make one code display as another.
_REFUSED_CATEGORIES = {"Cc", "Cs", "Co", "Cn", "Zl", "Zp"}
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def account_code_problem(code: object) -> str | None:
    """Why ``code`` is not a valid account code, or None if it is."""
    if not isinstance(code, str):
        return f"an account code must be text, not {type(code).__name__}"
    segments = code.split(":")
    if len(segments) > MAX_SEGMENTS:
        return f"it has {len(segments)} segments; at most {MAX_SEGMENTS} are allowed"
    for position, segment in enumerate(segments, start=1):
        if not segment:
            return f"segment {position} is empty (two ':' in a row, or a ':' at an end)"
        if len(segment) > MAX_SEGMENT_LENGTH:
            return f"segment {position} has {len(segment)} characters; at most {MAX_SEGMENT_LENGTH} are allowed"
        for char in segment:
            if char in _BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES:
                return f"segment {position} contains the non-printable character U+{ord(char):04X}"
    return None


def validate_account_code(code: object) -> str:
    problem = account_code_problem(code)
    if problem:
        raise InvalidTransaction(
            "account", code, problem, "Name accounts like 'assets:receivables:sub_42' (1-32 segments of 1-64 printable characters)."
        )
    return code  # type: ignore[return-value]


def load_account_types(conn: psycopg.Connection) -> dict[str, str]:
    """Top-level segment -> normal balance, as configured in ``ledger.account_types``."""
    return dict(conn.execute("SELECT top_segment, normal_balance FROM ledger.account_types").fetchall())


def normal_balance_of(code: str, account_types: Mapping[str, str]) -> str:
    top = code.split(":", 1)[0]
    try:
        return account_types[top]
    except KeyError:
        known = ", ".join(sorted(account_types))
        raise InvalidTransaction(
            "account", code, f"its top-level segment {top!r} is not an account type ({known})",
            "Start the code with one of those, or add the type to ledger.account_types.",
        ) from None


def ensure_accounts(conn: psycopg.Connection, codes: Iterable[str], account_types: Mapping[str, str] | None = None) -> None:
    """Create the accounts that do not exist yet (set-based, idempotent, race-free).

    Raises :class:`InvalidTransaction` for an invalid code or an unknown top-level segment
    before writing anything.
    """
    unique = sorted(set(codes))
    if not unique:
        return
    types = account_types if account_types is not None else load_account_types(conn)
    normal = [normal_balance_of(validate_account_code(code), types) for code in unique]
    ids = account_id_column(pl.Series(unique, dtype=pl.Utf8)).to_list()
    conn.execute(read_sql("ledger/ensure_accounts.sql"), {"ids": ids, "codes": unique, "normal": normal})
