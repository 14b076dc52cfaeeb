"""An independent, deliberately naive recomputation of balances and daily rows in Python.

Straight from the definitions in docs/architecture.md ("Balance definitions"), entry by entry,
day by day -- nothing shared with the SQL under test. Used as the oracle on random ledgers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from ledger_pipelines.accounting.calendar import end_of_day

FAR = datetime(9999, 12, 31, tzinfo=ZoneInfo("UTC"))


@dataclass(frozen=True)
class Row:
    account: str
    normal: str
    currency: str
    direction: str
    amount: int
    effective_at: datetime
    status: str
    posted_at: datetime | None
    archived_at: datetime | None
    created_at: datetime
    status_changed_at: datetime | None


def load(dsn: str) -> list[Row]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            """SELECT a.code, a.normal_balance, e.currency, e.direction, e.amount, e.effective_at, t.status,
                      t.posted_at, t.archived_at, t.created_at, t.status_changed_at
                 FROM ledger.entries e JOIN ledger.transactions t USING (transaction_id)
                 JOIN ledger.accounts a ON a.account_id = e.account_id"""
        ).fetchall()
    return [Row(*r) for r in rows]


def sums(rows: list[Row], at: datetime, known_at: datetime = FAR) -> dict[tuple[str, str], tuple[int, int, int, int, int]]:
    """(account, currency) -> (posted debits, posted credits, pending debits, pending credits, entries)."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for r in rows:
        if r.effective_at > at or r.created_at > known_at:
            continue
        acc = out[(r.account, r.currency)]
        acc[4] += 1
        moved_known = r.status_changed_at is None or r.status_changed_at <= known_at
        if r.status == "posted" and r.posted_at <= at and moved_known:
            acc[0 if r.direction == "debit" else 1] += r.amount
        elif r.status == "archived" and r.archived_at <= at and moved_known:
            pass
        else:
            acc[2 if r.direction == "debit" else 3] += r.amount
    return {k: tuple(v) for k, v in out.items()}


def signed(normal: str, s: tuple[int, int, int, int, int]) -> tuple[int, int, int]:
    pd, pc, qd, qc, _ = s
    if normal == "debit":
        posted = pd - pc
        return posted, posted + qd - qc, posted - qc
    posted = pc - pd
    return posted, posted + qc - qd, posted - qd


def daily_account_rows(rows: list[Row], tz: ZoneInfo, start: date, last: date) -> dict[tuple[str, str, date], tuple]:
    """(account, currency, day) -> (posted, pending, available, pd, pc, qd, qc, entries) for every
    day in start..last on which the account's sums changed (start: compared with nothing)."""
    normals = {r.account: r.normal for r in rows}
    out = {}
    previous: dict = {}
    day = start
    while day <= last:
        current = sums(rows, end_of_day(day, tz))
        for key, value in current.items():
            if previous.get(key) != value:
                out[(key[0], key[1], day)] = (*signed(normals[key[0]], value), *value)
        previous = current
        day += timedelta(days=1)
    return out


def daily_category_rows(rows, tz, start, last, members: dict[str, set[str]], normals: dict[str, str]):
    """Same for categories: ``members`` category -> accounts; ``normals`` category -> normal balance."""
    out = {}
    previous: dict = {}
    day = start
    while day <= last:
        per_account = sums(rows, end_of_day(day, tz))
        current: dict = {}
        for category, accounts in members.items():
            for (account, currency), value in per_account.items():
                if account in accounts:
                    acc = current.setdefault((category, currency), [0, 0, 0, 0, 0])
                    for i in range(5):
                        acc[i] += value[i]
        current = {k: tuple(v) for k, v in current.items()}
        for key, value in current.items():
            if previous.get(key) != value:
                out[(key[0], key[1], day)] = (*signed(normals[key[0]], value), *value)
        previous = current
        day += timedelta(days=1)
    return out
