"""Bulk plans for the concurrency tests, built the same way in every process from a small spec.

:func:`apply_range` runs in a separate process (multiprocessing, spawn): it builds the plan for
events ``start..stop`` and applies it with ``apply_plan`` in one database transaction.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

ACCOUNT_TYPES = {"assets": "debit", "expenses": "debit", "liabilities": "credit", "revenue": "credit", "equity": "credit"}
BRANCHES = 7


def event_spec(i: int) -> dict:
    """What event ``i`` does: amount, account, whether it is pending and settled later in the plan."""
    return {"key": f"e{i}", "account": f"assets:cash:{i % BRANCHES}", "amount": i + 1, "pending": i % 5 == 0}


def build_plan(start: int, stop: int):
    from tests.ledger.plans import T0, PlanBuilder

    b = PlanBuilder()
    for i in range(start, stop):
        spec = event_spec(i)
        b.post(spec["key"], [(spec["account"], "debit", spec["amount"], "USD"), ("equity:capital", "credit", spec["amount"], "USD")],
               status="pending" if spec["pending"] else "posted", at=T0 + timedelta(minutes=i))
    for i in range(start, stop):
        if event_spec(i)["pending"]:
            b.move(f"s{i}", "posted", key=f"e{i}", at=T0 + timedelta(days=1))
    return b.build()


def apply_range(dsn: str, start: int, stop: int, go, rounds: int = 1) -> list[tuple[str, str, str | None]]:
    """Apply the plan for ``start..stop`` once ``go`` is set; return (event_id, outcome, reason_code)."""
    import psycopg

    from ledger_pipelines.ledger.bulk import apply_plan

    plan = build_plan(start, stop)
    go.wait(60)
    results = []
    with psycopg.connect(dsn) as conn:
        for _ in range(rounds):
            with conn.transaction():
                result = apply_plan(conn, plan, batch_id=str(uuid.uuid4()), account_types=ACCOUNT_TYPES)
            results += [(r["event_id"], r["outcome"], r["reason_code"]) for r in result.outcomes.iter_rows(named=True)]
    return results
