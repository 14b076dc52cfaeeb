"""A posting plan: what a batch asks the ledger to do, as Polars frames (no per-row objects).

The ingestion front end (read -> validate -> map with the posting rules) produces a
:class:`PostingPlan`; :func:`ledger_pipelines.ledger.bulk.apply_plan` carries it out inside one
database transaction and reports one outcome per ``seq``. ``seq`` is the event's position in the
batch (0-based, unique per batch); every row of every frame names the ``seq`` it comes from.

Phases run in this order, each in ``seq`` order where order matters:

1. ``postings`` with ``phase == 0`` (new transactions and their ``legs``);
2. ``transitions`` (pending -> posted / archived);
3. ``reversals`` (a new transaction with every leg of the target flipped);
4. ``postings`` with ``phase == 1`` (replacements that follow a reversal, e.g. usage corrections).

Targets of transitions and reversals are named by ``target_key`` (an idempotency key, i.e. the
source ``event_id`` of the transaction) or by ``target_reference`` (a business key such as
``payment:pay_1``; the *current* transaction with that reference: not a reversal, not reversed,
latest ``created_at``). A target may be created earlier in the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

UTC_TIME = pl.Datetime("us", "UTC")

CONDITION = pl.Struct({"balance": pl.Utf8, "op": pl.Utf8, "amount": pl.Int64})

POSTINGS_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64,
    "idempotency_key": pl.Utf8,  # the event_id (or a derived key, see Plan docs)
    "event_id": pl.Utf8,  # the source event this row comes from
    "event_type": pl.Utf8,
    "status": pl.Utf8,  # 'posted' | 'pending'
    "effective_at": UTC_TIME,
    "reference": pl.Utf8,  # nullable
    "description": pl.Utf8,  # nullable
    "metadata": pl.Utf8,  # JSON object text, string -> string
    "source": pl.Utf8,  # JSON object text: subscription_id, customer_id, amount, currency, payload, recorded_at
    "content_hash": pl.Utf8,  # hash of the canonical event; duplicate vs conflict
    "phase": pl.Int8,  # 0 or 1 (see module docs)
    "correction_of": pl.Utf8,  # nullable: reference being corrected (phase 1), for the audit link
}

LEGS_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64,
    "idempotency_key": pl.Utf8,  # the posting this leg belongs to
    "leg_no": pl.Int32,
    "account": pl.Utf8,
    "direction": pl.Utf8,  # 'debit' | 'credit'
    "amount": pl.Int64,  # > 0, minor units
    "currency": pl.Utf8,
    "lock_version": pl.Int64,  # nullable
    "conditions": pl.List(CONDITION),  # may be empty
}

TRANSITIONS_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64,
    "event_id": pl.Utf8,  # becomes the transaction's transition_key
    "event_type": pl.Utf8,
    "to_status": pl.Utf8,  # 'posted' | 'archived'
    "at": UTC_TIME,  # posted_at / archived_at (business time)
    "target_key": pl.Utf8,  # nullable
    "target_reference": pl.Utf8,  # nullable
    "content_hash": pl.Utf8,
}

REVERSALS_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64,
    "idempotency_key": pl.Utf8,  # key of the new reversing transaction
    "event_id": pl.Utf8,
    "event_type": pl.Utf8,
    "effective_at": UTC_TIME,
    "target_key": pl.Utf8,  # nullable
    "target_reference": pl.Utf8,  # nullable
    "reason": pl.Utf8,  # nullable
    "metadata": pl.Utf8,
    "source": pl.Utf8,
    "content_hash": pl.Utf8,
}

OUTCOMES_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64,
    "event_id": pl.Utf8,
    "outcome": pl.Utf8,  # 'posted' | 'pending' | 'duplicate' | 'quarantined'
    "reason_code": pl.Utf8,  # nullable
    "message": pl.Utf8,  # nullable
    "transaction_id": pl.Utf8,  # nullable
}


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


@dataclass
class PostingPlan:
    """Frames with exactly the schemas above (extra columns are not allowed)."""

    postings: pl.DataFrame = field(default_factory=lambda: empty(POSTINGS_SCHEMA))
    legs: pl.DataFrame = field(default_factory=lambda: empty(LEGS_SCHEMA))
    transitions: pl.DataFrame = field(default_factory=lambda: empty(TRANSITIONS_SCHEMA))
    reversals: pl.DataFrame = field(default_factory=lambda: empty(REVERSALS_SCHEMA))

    def conform(self) -> PostingPlan:
        """Cast every frame to its schema (column order and types); raise on missing columns."""
        return PostingPlan(
            postings=_conform(self.postings, POSTINGS_SCHEMA, "postings"),
            legs=_conform(self.legs, LEGS_SCHEMA, "legs"),
            transitions=_conform(self.transitions, TRANSITIONS_SCHEMA, "transitions"),
            reversals=_conform(self.reversals, REVERSALS_SCHEMA, "reversals"),
        )


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType], name: str) -> pl.DataFrame:
    missing = [c for c in schema if c not in frame.columns]
    extra = [c for c in frame.columns if c not in schema]
    if missing or extra:
        raise ValueError(f"PostingPlan.{name}: missing columns {missing}, unexpected columns {extra}")
    return frame.select([pl.col(c).cast(t, strict=True) for c, t in schema.items()])
