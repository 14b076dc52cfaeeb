"""Random ledgers for the warehouse tests, posted through the real bulk path (apply_plan).

Postings of 2-3 legs in two currencies, some pending; later batches settle (post) or fail
(archive) pending ones -- at or after the transaction's own effective time, never before it (I4) --,
reverse posted ones, and backdate new postings into days the warehouse has already computed.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from ledger_pipelines.ledger.bulk import apply_plan
from tests.ledger.plans import PlanBuilder

ACCOUNT_TYPES = {"assets": "debit", "expenses": "debit", "liabilities": "credit", "revenue": "credit", "equity": "credit"}
ACCOUNTS = [
    "assets:cash:operating", "assets:cash:in_transit", "assets:receivables:s1", "assets:receivables:s2",
    "revenue:subscriptions:pro", "revenue:usage:api", "liabilities:customer_credits:s1", "expenses:promotional_credits",
]
BASE = datetime(2024, 3, 1, tzinfo=UTC)


class RandomLedger:
    def __init__(self, writer_dsn: str, seed: int, *, days: int = 30, base: datetime = BASE):
        self.dsn = writer_dsn
        self.rng = random.Random(seed)
        self.days = days
        self.base = base
        self.pending: list[tuple[str, datetime]] = []
        self.posted: list[str] = []
        self.n = 0
        self.batches: list[str] = []

    def instant(self, lo_day: float = 0, hi_day: float | None = None) -> datetime:
        hi = self.days if hi_day is None else hi_day
        return self.base + timedelta(seconds=int(self.rng.uniform(lo_day, hi) * 86400))

    def _legs(self):
        currency = self.rng.choice(["USD", "USD", "EUR"])
        a, b, c = self.rng.sample(ACCOUNTS, 3)
        amount = self.rng.randint(1, 10_000)
        if self.rng.random() < 0.3:
            split = self.rng.randint(1, amount) if amount > 1 else 1
            if split < amount:
                return [(a, "debit", amount, currency), (b, "credit", split, currency), (c, "credit", amount - split, currency)]
        return [(a, "debit", amount, currency), (b, "credit", amount, currency)]

    def batch(self, postings: int, *, moves: int = 0, reversals: int = 0, lo_day: float = 0, hi_day: float | None = None) -> str:
        """Post one batch; returns its batch_id."""
        b = PlanBuilder()
        for _ in range(postings):
            self.n += 1
            key = f"p{self.n}-{uuid.uuid4().hex[:6]}"
            at = self.instant(lo_day, hi_day)
            status = "pending" if self.rng.random() < 0.35 else "posted"
            b.post(key, self._legs(), status=status, at=at)
            (self.pending if status == "pending" else self.posted).append((key, at) if status == "pending" else key)
        self.rng.shuffle(self.pending)
        for _ in range(min(moves, len(self.pending))):
            key, at = self.pending.pop()
            to = "posted" if self.rng.random() < 0.7 else "archived"
            # within six days after the transaction's effective time (a move is never dated before it: I4)
            when = at + timedelta(hours=self.rng.uniform(0, 24 * 6))
            self.n += 1
            b.move(f"m{self.n}-{uuid.uuid4().hex[:6]}", to, key=key, at=when)
            if to == "posted":
                self.posted.append(key)
        self.rng.shuffle(self.posted)
        for _ in range(min(reversals, len(self.posted))):
            key = self.posted.pop()
            self.n += 1
            b.reverse(f"r{self.n}-{uuid.uuid4().hex[:6]}", key=key, at=self.instant(lo_day, hi_day))
        batch_id = str(uuid.uuid4())
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            result = apply_plan(conn, b.build(), batch_id=batch_id, account_types=ACCOUNT_TYPES)
        counts = result.counts()
        assert counts["quarantined"] == 0, result.outcomes.filter(result.outcomes["outcome"] == "quarantined")
        self.batches.append(batch_id)
        return batch_id
