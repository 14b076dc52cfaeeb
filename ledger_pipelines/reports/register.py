"""The register of one account or category over a date range, from the warehouse's general ledger.

What ``hledger register`` or beancount's journal show: per currency, the balance before the first
day, every posted entry by the day it counted in posted balances (its posting day, in the
reporting time zone) with the running balance after it, and the balance after the last day. A
category's register runs over all its member accounts (``analytics.account_categories``), signed
by the category's normal balance. Amounts are integer minor units; callers format them.

Read from ``reports.general_ledger`` of the published warehouse, so it is as current as the last
run (``subledger run``); ``subledger balance`` answers from the ledger itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb

from ledger_pipelines.accounting.balances import signed_amount


class RegisterError(LookupError):
    """The account or category is not in the warehouse; the message says what to do."""


@dataclass(frozen=True)
class RegisterLine:
    posting_date: date
    effective_at: datetime
    account: str
    transaction_id: str
    entry_no: int
    event_type: str | None
    reference: str | None
    description: str | None
    debit: int
    credit: int
    balance: int  # after this line, signed by the register's normal balance


@dataclass
class CurrencyRegister:
    currency: str
    opening: int
    lines: list[RegisterLine] = field(default_factory=list)

    @property
    def closing(self) -> int:
        return self.lines[-1].balance if self.lines else self.opening

    @property
    def debits(self) -> int:
        return sum(line.debit for line in self.lines)

    @property
    def credits(self) -> int:
        return sum(line.credit for line in self.lines)


@dataclass(frozen=True)
class Register:
    key: str
    kind: str  # account | category
    normal_balance: str
    start: date | None
    end: date | None
    currencies: list[CurrencyRegister]

    def as_json(self) -> dict[str, Any]:
        """Minor units, as every JSON document of the command line."""
        return {
            self.kind: self.key, "normal_balance": self.normal_balance,
            "from": self.start.isoformat() if self.start else None, "to": self.end.isoformat() if self.end else None,
            "currencies": [{
                "currency": c.currency, "opening": c.opening, "debits": c.debits, "credits": c.credits,
                "closing": c.closing,
                "lines": [{"posting_date": line.posting_date.isoformat(), "effective_at": line.effective_at.isoformat(),
                           "account": line.account, "transaction_id": line.transaction_id, "entry_no": line.entry_no,
                           "event_type": line.event_type, "reference": line.reference, "description": line.description,
                           "debit": line.debit, "credit": line.credit, "balance": line.balance} for line in c.lines],
            } for c in self.currencies],
        }


def _normal_balance(con: duckdb.DuckDBPyConnection, key: str, category: bool) -> str:
    if category:
        found = con.execute("SELECT normal_balance FROM analytics.categories WHERE category = ?", [key]).fetchone()
        what, hint = "category", "Categories are the prefixes of account codes (e.g. 'assets:receivables') and configured groups"
    else:
        found = con.execute("SELECT normal_balance FROM analytics.accounts WHERE account = ?", [key]).fetchone()
        what, hint = "account", "Give a whole account code, or --category for a prefix"
    if found is None:
        raise RegisterError(f"no {what} is named {key!r} in the warehouse. {hint}; `subledger balances` lists them "
                            "(the warehouse knows what the last `subledger run` mirrored).")
    return found[0]


def account_register(con: duckdb.DuckDBPyConnection, key: str, *, category: bool = False, start: date | None = None,
                     end: date | None = None, currency: str | None = None) -> Register:
    """The register of account (or, with ``category``, category) ``key`` from ``start`` to ``end``
    (posting days, both included; open ends: the whole history)."""
    normal = _normal_balance(con, key, category)
    members = ("SELECT account FROM analytics.account_categories WHERE category = $key" if category
               else "SELECT $key AS account")
    params = {"key": key, "currency": currency, "start": start or date.min, "end": end or date.max}
    where = (f"line_type = 'entry' AND account IN ({members}) AND ($currency::VARCHAR IS NULL OR currency = $currency)")
    openings = con.execute(
        f"SELECT currency, sum(debit), sum(credit) FROM reports.general_ledger WHERE {where} AND posting_date < $start "
        "GROUP BY currency ORDER BY currency", {k: v for k, v in params.items() if k != "end"}).fetchall()
    rows = con.execute(
        f"SELECT currency, posting_date, effective_at, account, transaction_id, entry_no, event_type, reference, description, "
        f"debit, credit FROM reports.general_ledger WHERE {where} AND posting_date BETWEEN $start AND $end "
        "ORDER BY currency, posting_at, effective_at, transaction_id, entry_no", params).fetchall()
    # signed by the register's normal balance: + when it increases it
    registers = {c: CurrencyRegister(c, signed_amount(normal, int(d), int(k))) for c, d, k in openings}
    for row in rows:
        register = registers.setdefault(row[0], CurrencyRegister(row[0], 0))
        register.lines.append(RegisterLine(*row[1:11], balance=register.closing + signed_amount(normal, row[9], row[10])))
    return Register(key, "category" if category else "account", normal, start, end,
                    [registers[c] for c in sorted(registers)])
