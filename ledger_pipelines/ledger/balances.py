"""Reading balances: now (from the cached balances) or as of any effective / system time.

The definitions are the contract's (docs/architecture.md, "Balance definitions"): posted,
pending (posted plus pending entries) and available (posted minus pending outflows), signed by
the account's normal balance. ``as_of`` is an effective time (every entry with
``effective_at <= as_of``); ``known_at`` is a system time (the ledger as it stood then).

Balances as of a time are answered from the latest *balance anchor* at or before it
(``ledger.balance_anchors``, written by the warehouse's snapshot computation) plus the entries
whose contribution differs between the anchor and the answer (``sql/ledger/balance_at.sql``;
docs/warehouse.md, "Anchors and balance at any time"). That equals the full recomputation from
entries (:func:`recomputed_balances`) exactly -- also for entries backdated after the anchor was
computed and with ``known_at`` -- and costs about the same for an account with 1k or 1M entries.
Without anchors every account simply uses its whole history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import psycopg

from ledger_pipelines.accounting.balances import Balance
from ledger_pipelines.ledger.ids import account_id
from ledger_pipelines.paths import read_sql

FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
_SUMS = ("posted_debits", "posted_credits", "pending_debits", "pending_credits")


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

    Without ``as_of``/``known_at`` this is the balance *now* (every entry effective at or before
    now, moves as dated), with ``version`` and the account's ``lock_version``. It reads the
    cached balances (one index lookup per account); an account whose cache counts something
    dated later (a future-dated entry or move) is answered as of now instead, since the cache
    holds every entry whatever its date. With ``as_of``/``known_at`` it answers from the latest
    anchor before ``as_of`` plus the delta (see the module docs), with the same result as
    :func:`recomputed_balances`.
    """
    if as_of is not None or known_at is not None:
        return _as_of(conn, "ledger/balance_at.sql", accounts, currency, as_of, known_at)
    now = datetime.now(UTC)
    rows = conn.execute(read_sql("ledger/current_balances.sql"), {"codes": accounts, "currency": currency}).fetchall()
    later = {r[0] for r in conn.execute(
        read_sql("ledger/accounts_with_later_activity.sql"), {"codes": accounts, "currency": currency, "now": now}
    ).fetchall()}
    found = [Balance(r[0], r[2], r[1], r[3], r[4], r[5], r[6], version=r[7], as_of=now, lock_version=r[8]) for r in rows]
    if not later:
        return found
    as_of_now = {(b.account, b.currency): b for b in _as_of(conn, "ledger/balance_at.sql", sorted(later), currency, now, None)}
    def now_sums(b: Balance) -> dict[str, int]:  # a pair with nothing effective yet is all zeros
        fresh = as_of_now.get((b.account, b.currency))
        return {f: getattr(fresh, f) if fresh else 0 for f in _SUMS}

    return [replace(b, **now_sums(b)) if b.account in later else b for b in found]


def recomputed_balances(
    conn: psycopg.Connection,
    accounts: list[str] | None = None,
    *,
    currency: str | None = None,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
) -> list[Balance]:
    """The same as the as-of path of :func:`balances`, recomputed from every entry (no anchors).

    The reference the anchored answer is proved against (tests, benchmarks); its cost grows with
    the account's history.
    """
    return _as_of(conn, "ledger/balances_as_of.sql", accounts, currency, as_of, known_at)


def balance_at(
    conn: psycopg.Connection,
    account: str,
    at: datetime,
    known_at: datetime | None = None,
    *,
    currency: str | None = None,
) -> list[Balance]:
    """One account's balances (one per currency it holds) as of ``at``, as known at ``known_at``.

    Answered from the latest balance anchor at or before ``at`` plus the delta (module docs);
    an empty list if no entry of the account counts then.
    """
    return _as_of(conn, "ledger/balance_at.sql", [account], currency, at, known_at)


def _as_of(
    conn: psycopg.Connection,
    sql_file: str,
    accounts: list[str] | None,
    currency: str | None,
    as_of: datetime | None,
    known_at: datetime | None,
) -> list[Balance]:
    as_of = as_of or datetime.now(UTC)
    if as_of.tzinfo is None or (known_at is not None and known_at.tzinfo is None):
        raise ValueError("as_of and known_at must be aware datetimes (with a UTC offset), e.g. 2024-03-01T00:00:00+00:00.")
    params = {
        "as_of": as_of,
        "known_at": known_at or FAR_FUTURE,
        "account_ids": [str(account_id(code)) for code in accounts] if accounts is not None else None,
        "currency": currency,
    }
    # A few index lookups: JIT compilation (triggered by the planner's pessimistic estimate of
    # the transactions changed since the anchors) would cost more than the whole query.
    with conn.transaction():
        conn.execute("SET LOCAL jit = off")
        rows = conn.execute(read_sql(sql_file), params).fetchall()
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
    if as_of is None and known_at is None:  # now: the versions are known
        return Balance(account, currency, normal, 0, 0, 0, 0, version=0, as_of=datetime.now(UTC),
                       lock_version=info.lock_version if info else 0)
    return Balance(account, currency, normal, 0, 0, 0, 0, as_of=as_of or datetime.now(UTC))


def category_balances(
    conn: psycopg.Connection,
    prefix: str | None = None,
    *,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
) -> list[Balance]:
    """Balances of every category under ``prefix`` (all categories when None), per currency.

    A category's debit and credit sums are the sums of its member accounts'; its balances are
    signed by the category's normal balance (a path category's top segment's; a group's own,
    else that of the account type its code starts with, else debit). ``Balance.account`` holds the category code.
    """
    import polars as pl

    members = pl.DataFrame(
        conn.execute(read_sql("ledger/category_membership.sql"), {"prefix": prefix}).fetchall(),
        schema={"category": pl.Utf8, "account": pl.Utf8, "normal_balance": pl.Utf8},
        orient="row",
    )
    if members.is_empty():
        return []
    accounts = members["account"].unique().to_list()
    rows = balances(conn, accounts, as_of=as_of, known_at=known_at)
    sums = pl.DataFrame(
        [(b.account, b.currency, b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits) for b in rows],
        schema={"account": pl.Utf8, "currency": pl.Utf8, "pd": pl.Int64, "pc": pl.Int64, "qd": pl.Int64, "qc": pl.Int64},
        orient="row",
    )
    totals = (
        members.join(sums, on="account")
        .group_by("category", "normal_balance", "currency")
        .agg(pl.col("pd", "pc", "qd", "qc").cast(pl.Int128).sum())
        .sort("category", "currency")
    )
    stamp = as_of or datetime.now(UTC)
    return [
        Balance(r["category"], r["currency"], r["normal_balance"], int(r["pd"]), int(r["pc"]), int(r["qd"]), int(r["qc"]), as_of=stamp)
        for r in totals.iter_rows(named=True)
    ]
