"""Balances: posted, pending and available from the four sums and the normal balance.

Rule (docs/architecture.md, "Balance definitions"; interfaces.md): for an account (or category)
with normal balance ``n`` and, per currency, the sums of posted debits ``PD``, posted credits
``PC``, pending debits ``QD`` and pending credits ``QC`` (pending = entries of pending
transactions):

* debit-normal: ``posted = PD - PC``, ``pending = posted + QD - QC``, ``available = posted - QC``
* credit-normal: ``posted = PC - PD``, ``pending = posted + QC - QD``, ``available = posted - QD``

Pending is posted plus the pending entries; available is posted minus the pending outflows. The
ledger stores only the four sums (as TigerBeetle does); everything that shows a balance signs them
here -- :class:`Balance` for one account, :func:`balance_columns` for a Polars frame,
:func:`signed_amount`/:func:`signed_entry` for amounts (registers, statements) -- or with the
warehouse's DuckDB macros ``signed_posted/pending/available``, ``signed_amount``, ``signed_entry``
(``sql/warehouse/macros.sql``), which ``tests/unit/accounting/test_pairs.py`` proves equal to this
module on random sums.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

import polars as pl

BalanceKind = Literal["posted", "pending", "available"]
BALANCE_KINDS: tuple[BalanceKind, ...] = ("posted", "pending", "available")

Amount = TypeVar("Amount", int, pl.Expr)


def _definition(by_normal: Callable[[Amount, Amount], Amount], pd: Amount, pc: Amount, qd: Amount,
                qc: Amount) -> tuple[Amount, Amount, Amount]:
    """The definition itself, for any arithmetic (ints or Polars expressions): ``by_normal(d, c)``
    is ``d`` for a debit-normal balance and ``c`` for a credit-normal one."""
    posted = by_normal(pd - pc, pc - pd)
    pending = posted + by_normal(qd - qc, qc - qd)
    available = posted - by_normal(qc, qd)
    return posted, pending, available


def signed_balances(normal_balance: str, pd: int, pc: int, qd: int, qc: int) -> tuple[int, int, int]:
    """``(posted, pending, available)`` of one balance (Python ints: never overflow)."""
    def by_normal(debit: int, credit: int) -> int:
        return debit if normal_balance == "debit" else credit

    return _definition(by_normal, pd, pc, qd, qc)


def signed_amount(normal_balance: str, debits: int, credits: int) -> int:
    """Debits and credits (one entry's, or sums) signed by a normal balance: positive when they
    increase it -- the posted balance they would make alone."""
    return signed_balances(normal_balance, debits, credits, 0, 0)[0]


def signed_entry(normal_balance: str, direction: str, amount: int) -> int:
    """One entry's amount signed by its account's (or category's) normal balance."""
    return signed_amount(normal_balance, amount, 0) if direction == "debit" else signed_amount(normal_balance, 0, amount)


def balance_columns(normal_balance: pl.Expr, pd: pl.Expr, pc: pl.Expr, qd: pl.Expr, qc: pl.Expr) -> list[pl.Expr]:
    """The same for every row of a frame: expressions named ``posted``, ``pending``, ``available``.

    Give the sums as wide integers (``Int128``) where they may be near the 64-bit range."""
    def by_normal(debit: pl.Expr, credit: pl.Expr) -> pl.Expr:
        return pl.when(normal_balance == "debit").then(debit).otherwise(credit)

    posted, pending, available = _definition(by_normal, pd, pc, qd, qc)
    return [posted.alias("posted"), pending.alias("pending"), available.alias("available")]


@dataclass(frozen=True)
class Balance:
    """An account's (or category's) balance in one currency, signed by its normal balance."""

    account: str
    currency: str
    normal_balance: str
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int
    version: int | None = None  # the cached balance's version (this account and currency)
    as_of: datetime | None = None
    lock_version: int | None = None  # the account's version: what a producer sends as a leg's lock_version

    def _signed(self) -> tuple[int, int, int]:
        return signed_balances(self.normal_balance, self.posted_debits, self.posted_credits, self.pending_debits,
                               self.pending_credits)

    @property
    def posted(self) -> int:
        return self._signed()[0]

    @property
    def pending(self) -> int:
        """Posted plus pending entries."""
        return self._signed()[1]

    @property
    def available(self) -> int:
        """Posted minus pending outflows."""
        return self._signed()[2]

    def value(self, kind: BalanceKind) -> int:
        return dict(zip(BALANCE_KINDS, self._signed(), strict=True))[kind]

    def as_dict(self, key: str = "account") -> dict[str, object]:
        """The interfaces.md JSON shape; an account's also carries the account's ``lock_version``."""
        posted, pending, available = self._signed()
        shape = {
            key: self.account,
            "currency": self.currency,
            "posted": posted,
            "pending": pending,
            "available": available,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "version": self.version,
        }
        if key == "account":
            shape["lock_version"] = self.lock_version
        return shape
