"""The database's refusals as the ledger's typed errors.

Database guards raise SQLSTATEs of class ``LD`` (the functions of ``sql/schema/functions/``;
docs/invariants.md); :func:`translate` turns them into the refusal types of
:mod:`ledger_pipelines.accounting.errors` so callers never parse messages.
"""

from __future__ import annotations

import psycopg

from ledger_pipelines.accounting.errors import (
    ImmutableLedgerRow,
    InvalidTransaction,
    InvalidTransition,
    LedgerError,
    PeriodClosed,
    PeriodError,
    UnbalancedTransaction,
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
