"""Typed ledger errors. Each names the field, the value and what to do next.

Database guards raise SQLSTATEs of class ``LD`` (the functions of ``sql/schema/functions/``; docs/invariants.md);
:func:`translate` turns them into these types so callers never parse messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


class LedgerError(Exception):
    """Base class: the ledger refused an operation and wrote nothing."""

    reason_code: str = "ledger_error"
    sqlstate: str | None = None  # the database guard's SQLSTATE when the database refused it


class InvalidTransaction(LedgerError):
    """A transaction as given can never be posted (bad account code, amount, currency, legs)."""

    reason_code = "invalid_transaction"

    def __init__(self, field: str, value: object, problem: str, fix: str):
        self.field, self.value = field, value
        super().__init__(f"{field}={value!r}: {problem}. {fix}")


class UnbalancedTransaction(LedgerError):
    reason_code = "unbalanced"


class ImmutableLedgerRow(LedgerError):
    """An UPDATE/DELETE of an entry, audit row or finished transaction."""

    reason_code = "immutable"


class InvalidTransition(LedgerError):
    """A lifecycle move other than pending -> posted / pending -> archived."""

    reason_code = "invalid_transition"


class UnknownTransaction(LedgerError):
    reason_code = "unknown_target"


class IdempotencyConflict(LedgerError):
    """The idempotency key is taken by a transaction with different content."""

    reason_code = "event_id_conflict"


class PeriodClosed(LedgerError):
    reason_code = "period_closed"


class ConnectionInTransaction(LedgerError):
    """The Ledger was handed a connection inside a transaction someone else opened."""

    reason_code = "connection_in_transaction"


@dataclass(frozen=True)
class VersionMismatch:
    account: str
    expected: int
    actual: int


class VersionConflict(LedgerError):
    """The caller's ``lock_version`` for an account is stale; re-read and retry."""

    reason_code = "version_conflict"

    def __init__(self, mismatches: list[VersionMismatch]):
        self.mismatches = mismatches
        detail = "; ".join(f"account {m.account}: expected lock_version {m.expected}, it is {m.actual}" for m in mismatches)
        super().__init__(f"{detail}. Re-read the account (its balance and lock_version) and retry with the current version.")


@dataclass(frozen=True)
class ConditionFailure:
    account: str
    currency: str
    balance: str  # posted | pending | available
    op: str  # gte | lte | eq
    bound: int
    actual: int


class BalanceConditionFailed(LedgerError):
    """A balance condition would not hold after the transaction; nothing was written."""

    reason_code = "balance_condition_failed"

    def __init__(self, failures: list[ConditionFailure]):
        self.failures = failures
        ops = {"gte": ">=", "lte": "<=", "eq": "=="}
        detail = "; ".join(
            f"{f.balance} balance of {f.account} would be {f.actual} {f.currency}, needs {ops[f.op]} {f.bound}"
            for f in failures
        )
        super().__init__(f"{detail}. Nothing was written; retry when the balance allows it or change the amount.")


_SQLSTATE_TYPES: dict[str, type[LedgerError]] = {
    "LDG01": UnbalancedTransaction,
    "LDG02": ImmutableLedgerRow,
    "LDG03": ImmutableLedgerRow,
    "LDG04": InvalidTransition,
    "LDG05": InvalidTransaction,
    "LDG06": InvalidTransaction,
    "LDG07": UnbalancedTransaction,
    "LDG09": PeriodClosed,
}


def translate(exc: psycopg.Error) -> LedgerError | None:
    """The typed error for a database guard's SQLSTATE, or None for other database errors."""
    sqlstate = getattr(exc, "sqlstate", None)
    kind = _SQLSTATE_TYPES.get(sqlstate or "")
    if kind is None:
        return None
    diag = exc.diag
    message = diag.message_primary or str(exc)
    if diag.message_hint:
        message += f". {diag.message_hint}"
    error = kind.__new__(kind)
    LedgerError.__init__(error, message)
    error.sqlstate = sqlstate
    if isinstance(error, InvalidTransaction):  # the attributes its own constructor would set
        error.field, error.value = None, None
    return error
