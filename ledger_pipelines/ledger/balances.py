"""Reading balances: now (from the cached balances) or as of any effective / system time.

The definitions are the contract's (docs/architecture.md, "Balance definitions"): posted,
pending (posted plus pending entries) and available (posted minus pending outflows), signed by
the account's normal balance. ``as_of`` is an effective time (every entry with
``effective_at <= as_of``); ``known_at`` is a system time (the ledger as it stood then).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg

from ledger_pipelines.ledger.ids import account_id
from ledger_pipelines.ledger.model import Balance
from ledger_pipelines.paths import read_sql

FAR_FUTURE = datetime(9999, 12, 31, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Account:
    code: str
    normal_balance: str
    currency: str | None
    lock_version: int
    metadata: dict
    created_at: datetime


def get_account(conn: psycopg.Connection, code: str) -> Account | None:
    row = conn.execute(read_sql("ledger/account_info.sql"), {"code": code}).fetchone()
    return Account(*row) if row else None


def balances(
    conn: psycopg.Connection,
    accounts: list[str] | None = None,
    *,
    currency: str | None = None,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
) -> list[Balance]:
    """Balances of ``accounts`` (every account when None), one per account and currency.

    Without ``as_of``/``known_at`` this reads the cached balances (one index lookup per account,
    ``version`` included); otherwise it recomputes from entries.
    """
    if as_of is None and known_at is None:
        rows = conn.execute(read_sql("ledger/current_balances.sql"), {"codes": accounts, "currency": currency}).fetchall()
        now = datetime.now(timezone.utc)
        return [Balance(r[0], r[2], r[1], r[3], r[4], r[5], r[6], version=r[7], as_of=now) for r in rows]
    as_of = as_of or datetime.now(timezone.utc)
    rows = conn.execute(
        read_sql("ledger/balances_as_of.sql"),
        {
            "as_of": as_of,
            "known_at": known_at or FAR_FUTURE,
            "account_ids": [str(account_id(code)) for code in accounts] if accounts is not None else None,
            "currency": currency,
        },
    ).fetchall()
    return [Balance(r[0], r[2], r[1], r[3], r[4], r[5], r[6], as_of=as_of) for r in rows]


def balance(
    conn: psycopg.Connection,
    account: str,
    currency: str,
    *,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
) -> Balance:
    """One account's balance in one currency (zero if it never moved in that currency)."""
    found = balances(conn, [account], currency=currency, as_of=as_of, known_at=known_at)
    if found:
        return found[0]
    info = get_account(conn, account)
    normal = info.normal_balance if info else "debit"
    return Balance(account, currency, normal, 0, 0, 0, 0, version=0, as_of=as_of or datetime.now(timezone.utc))
