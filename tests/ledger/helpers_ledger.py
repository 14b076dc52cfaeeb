"""Helpers for the API tests: short transaction builders, the contract's balance formula written
out independently of the implementation, and a snapshot of everything the ledger holds."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from ledger_pipelines.ledger.model import Condition, Leg, NewTransaction
from ledger_pipelines.ledger.posting import Ledger
from ledger_pipelines.postgres.database import connect

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
NORMAL = {"assets": "debit", "expenses": "debit", "liabilities": "credit", "equity": "credit", "revenue": "credit",
          "income": "credit"}


def normal_of(account: str) -> str:
    return NORMAL[account.split(":", 1)[0]]


def transfer(key: str, debit: str, credit: str, amount: int, currency: str = "USD", *, status: str = "posted",
             at: datetime = T0, debit_conditions=(), credit_conditions=(), debit_version=None, credit_version=None,
             **kwargs) -> NewTransaction:
    """A two-leg transaction: ``amount`` from ``credit`` to ``debit``."""
    return NewTransaction(
        key,
        (
            Leg(debit, "debit", amount, currency, tuple(Condition(*c) for c in debit_conditions), debit_version),
            Leg(credit, "credit", amount, currency, tuple(Condition(*c) for c in credit_conditions), credit_version),
        ),
        at,
        status=status,
        **kwargs,
    )


def contract_balances(normal: str, pd: int, pc: int, qd: int, qc: int) -> tuple[int, int, int]:
    """(posted, pending, available) per source-events.md, from the four sums."""
    if normal == "debit":
        posted = pd - pc
        return posted, posted + qd - qc, posted - qc
    posted = pc - pd
    return posted, posted + qc - qd, posted - qd


def open_ledger(dsn: str, actor: str = "test") -> Ledger:
    return Ledger(connect(dsn), actor=actor)


def snapshot(dsn: str) -> dict:
    """Everything a write could change: rows of every ledger table (as text), cache and versions."""
    with psycopg.connect(dsn) as conn:
        out = {}
        for table, order in (("transactions", "transaction_id"), ("entries", "transaction_id, entry_no"),
                             ("balances", "account_id, currency"), ("accounts", "account_id"),
                             ("audit_log", "at, audit_id"), ("category_members", "category_code, account_id")):
            out[table] = conn.execute(f"SELECT coalesce(array_agg(t::text ORDER BY {order}), '{{}}') FROM ledger.{table} t").fetchone()[0]
    return out


def audit_rows(dsn: str, target_id: str | None = None) -> list[tuple]:
    """(action, actor, reason, target_id, before, after) of the audit log, oldest first."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT action, actor, reason, target_id, before, after FROM ledger.audit_log "
            "WHERE %(t)s::text IS NULL OR target_id = %(t)s ORDER BY at, audit_id",
            {"t": target_id},
        ).fetchall()
