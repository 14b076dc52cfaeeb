"""Outcomes: exactly one per event of the plan, and the run's result.

Every ``seq`` of the plan ends ``posted``, ``pending``, ``duplicate`` or ``quarantined`` (with the
first reason it was refused for); an event with none is a bug and fails the batch (I12).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ledger_pipelines.ledger.bulk.state import Batch
from ledger_pipelines.ledger.plan import OUTCOMES_SCHEMA


@dataclass(frozen=True)
class PlanResult:
    outcomes: pl.DataFrame  # OUTCOMES_SCHEMA, one row per seq of the plan
    transactions_created: int
    entries_created: int
    moves_applied: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage of the run (benchmarks)

    def counts(self) -> dict[str, int]:
        got = dict(self.outcomes.group_by("outcome").len().iter_rows())
        return {k: int(got.get(k, 0)) for k in ("posted", "pending", "duplicate", "quarantined")}


def outcomes(batch: Batch, postings: pl.DataFrame, moves: pl.DataFrame, reversals: pl.DataFrame) -> pl.DataFrame:
    """One outcome per event of the plan: refused (``quarantined``), ``duplicate``, or what was written."""
    p = batch.plan
    every_seq = pl.concat([p.postings.select("seq", "event_id"), p.transitions.select("seq", "event_id"),
                           p.reversals.select("seq", "event_id")]).unique("seq", keep="first")
    written = pl.concat([
        postings.filter(pl.col("phase") == 0).select("seq", pl.col("status").alias("outcome"), "transaction_id"),
        moves.select("seq", pl.lit("posted").alias("outcome"), pl.col("transaction_id")) if moves.height else
        pl.DataFrame(schema={"seq": pl.Int64, "outcome": pl.Utf8, "transaction_id": pl.Utf8}),
        postings.filter(pl.col("phase") == 1).select("seq", pl.col("status").alias("outcome"), "transaction_id"),
        reversals.select("seq", pl.lit("posted").alias("outcome"), "transaction_id") if reversals.height else
        pl.DataFrame(schema={"seq": pl.Int64, "outcome": pl.Utf8, "transaction_id": pl.Utf8}),
    ]).unique("seq", keep="first")
    outcomes = (
        every_seq.join(written, on="seq", how="left")
        .join(batch.duplicates.rename({"transaction_id": "duplicate_of"}), on="seq", how="left")
        .join(batch.refused, on="seq", how="left")
        .with_columns(
            outcome=pl.when(pl.col("reason_code").is_not_null()).then(pl.lit("quarantined"))
            .when(pl.col("seq").is_in(batch.duplicates["seq"].implode())).then(pl.lit("duplicate"))
            .otherwise(pl.col("outcome")),
            transaction_id=pl.when(pl.col("reason_code").is_not_null()).then(None)
            .otherwise(pl.coalesce("transaction_id", "duplicate_of")),
        )
    )
    missing = outcomes.filter(pl.col("outcome").is_null())
    if missing.height:
        raise AssertionError(f"events without an outcome: {missing['seq'].to_list()[:10]}")
    return outcomes.select(list(OUTCOMES_SCHEMA)).cast(OUTCOMES_SCHEMA).sort("seq")
