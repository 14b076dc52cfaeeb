"""Build PostingPlans from short Python specs for tests (the real ones come from ingestion)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import polars as pl

from ledger_pipelines.ledger.plan import (
    LEGS_SCHEMA,
    POSTINGS_SCHEMA,
    REVERSALS_SCHEMA,
    TRANSITIONS_SCHEMA,
    PostingPlan,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


class PlanBuilder:
    """``b.post("e1", [("assets:cash", "debit", 100, "USD"), ...])``, ``b.move(...)``, ``b.reverse(...)``."""

    def __init__(self) -> None:
        self.seq = 0
        self.postings: list[dict] = []
        self.legs: list[dict] = []
        self.transitions: list[dict] = []
        self.reversals: list[dict] = []

    def _next(self, seq: int | None) -> int:
        if seq is None:
            seq = self.seq
            self.seq += 1
        return seq

    def post(self, key, legs, *, status="posted", at=T0, reference=None, phase=0, seq=None, content=None,
             event_type="journal.posted") -> int:
        seq = self._next(seq)
        self.postings.append({
            "seq": seq, "idempotency_key": key, "event_id": key.split("\x1f")[0], "event_type": event_type,
            "status": status, "effective_at": at, "reference": reference, "description": None, "metadata": "{}",
            "source": None, "content_hash": content or _hash(key, legs, status, at, reference), "phase": phase,
            "correction_of": None,
        })
        for n, leg in enumerate(legs):
            account, direction, amount, currency, *rest = leg
            extra = rest[0] if rest else {}
            self.legs.append({
                "seq": seq, "idempotency_key": key, "leg_no": n, "account": account, "direction": direction,
                "amount": amount, "currency": currency, "lock_version": extra.get("lock_version"),
                "conditions": [{"balance": b, "op": o, "amount": a} for (b, o, a) in extra.get("conditions", [])],
            })
        return seq

    def move(self, event_id, to_status, *, key=None, reference=None, at=T0, seq=None, content=None) -> int:
        seq = self._next(seq)
        self.transitions.append({
            "seq": seq, "event_id": event_id, "event_type": "transaction." + to_status, "to_status": to_status, "at": at,
            "target_key": key, "target_reference": reference, "content_hash": content or _hash(event_id, to_status, key, reference, at),
        })
        return seq

    def reverse(self, event_id, *, key=None, reference=None, at=T0, seq=None, reason=None, idempotency_key=None, content=None) -> int:
        seq = self._next(seq)
        self.reversals.append({
            "seq": seq, "idempotency_key": idempotency_key or event_id, "event_id": event_id,
            "event_type": "transaction.reversed", "effective_at": at, "target_key": key, "target_reference": reference,
            "reason": reason, "metadata": "{}", "source": None,
            "content_hash": content or _hash(event_id, key, reference, at, reason),
        })
        return seq

    def correct(self, event_id, reference, legs, *, at=T0) -> int:
        """A correction: reverse the current posting of ``reference``, post ``legs`` as its replacement."""
        seq = self._next(None)
        content = _hash(event_id, reference, legs, at)
        self.reverse(event_id, reference=reference, at=at, seq=seq, idempotency_key=event_id + "\x1freversal", content=content)
        if legs:
            self.post(event_id, legs, at=at, reference=reference, phase=1, seq=seq, content=content, event_type="usage.corrected")
        return seq

    def build(self) -> PostingPlan:
        return PostingPlan(
            postings=pl.DataFrame(self.postings, schema=POSTINGS_SCHEMA),
            legs=pl.DataFrame(self.legs, schema=LEGS_SCHEMA),
            transitions=pl.DataFrame(self.transitions, schema=TRANSITIONS_SCHEMA),
            reversals=pl.DataFrame(self.reversals, schema=REVERSALS_SCHEMA),
        )
