"""The database's refusals as the ledger's typed errors.

Database guards raise SQLSTATEs of class ``LD`` (the functions of ``sql/schema/functions/``;
docs/invariants.md); :func:`translate` turns them into the refusal types of
:mod:`ledger_pipelines.accounting.errors` so callers never parse messages. The posting functions
(``ledger.post_transaction``, ``ledger.move_transaction``, ``ledger.reverse_transaction``) give a
stale lock version (LDG17) and failed balance conditions (LDG18) as JSON in the error's DETAIL, so
the typed error carries the same account, bound and value as one raised in Python.
"""

from __future__ import annotations

import json

import psycopg

from ledger_pipelines.accounting.errors import (
    BalanceConditionFailed,
    ConditionFailure,
    IdempotencyConflict,
    ImmutableLedgerRow,
    InvalidTransaction,
    InvalidTransition,
    LedgerError,
    PeriodClosed,
    PeriodError,
    UnbalancedTransaction,
    UnknownTransaction,
    VersionConflict,
    VersionMismatch,
)

_SQLSTATE_TYPES: dict[str, type[LedgerError]] = {
    "LDG01": UnbalancedTransaction,
    "LDG02": ImmutableLedgerRow,
    "LDG03": ImmutableLedgerRow,
    "LDG04": InvalidTransition,
    "LDG05": InvalidTransaction,
    "LDG06": InvalidTransaction,
    "LDG07": UnbalancedTransaction,
    "LDG09": PeriodClosed,
    "LDG11": PeriodError,
    "LDG16": IdempotencyConflict,
    "LDG19": UnknownTransaction,
}


def translate(exc: psycopg.Error) -> LedgerError | None:
    """The typed error for a database guard's SQLSTATE, or None for other database errors."""
    diag = exc.diag
    return refusal(getattr(exc, "sqlstate", None), diag.message_primary or str(exc), diag.message_detail,
                   diag.message_hint)


def refusal(sqlstate: str | None, message: str, detail: str | None, hint: str | None) -> LedgerError | None:
    """The typed error for a refusal given by its parts (as ``ledger.post_many`` returns them per
    posting), or None when ``sqlstate`` is not a database guard's."""
    error: LedgerError
    if sqlstate == "LDG17":
        error = VersionConflict([VersionMismatch(m["account"], m["expected"], m["actual"])
                                 for m in json.loads(detail or "[]")])
    elif sqlstate == "LDG18":
        error = BalanceConditionFailed([ConditionFailure(f["account"], f["currency"], f["balance"], f["op"], f["bound"],
                                                         int(f["actual"]) if f["actual"] is not None else None)
                                        for f in json.loads(detail or "[]")])
    else:
        kind = _SQLSTATE_TYPES.get(sqlstate or "")
        if kind is None:
            return None
        if hint:
            message += f". {hint}"
        error = kind.__new__(kind)
        LedgerError.__init__(error, message)
        if isinstance(error, InvalidTransaction):  # the attributes its own constructor would set
            error.field, error.value = None, None
    error.sqlstate = sqlstate
    return error
