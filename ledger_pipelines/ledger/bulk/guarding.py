"""Locks and guards: the balances locked, then conditions, lock versions and 64-bit sums decided in file order.

The decision itself is :func:`ledger_pipelines.ledger.guards.evaluate_guards` (in memory, against
the locked state); this module gives it the batch as one replay: the postings' legs, and the
moves and reversals as the signed legs they add, each at its event's place in the file.
"""

from __future__ import annotations

import polars as pl

from ledger_pipelines.ledger.bulk.state import REFUSALS_SCHEMA, Batch
from ledger_pipelines.ledger.guards import evaluate_guards
from ledger_pipelines.paths import read_sql
from ledger_pipelines.postgres.copy import array_literal


def lock_balances(batch: Batch, legs: pl.DataFrame, target_legs: pl.DataFrame) -> pl.DataFrame:
    """Lock every balance the batch touches, in the global order, and return their state.

    ``ledger.lock_balances`` (I9): the legs' pairs and those of the targets' legs, sorted, so
    concurrent writers lock alike, and every balance of an account whose ``lock_version`` a leg
    checks (the version sums them all); the state (four sums, versions) with each account's normal balance.
    """
    pairs = pl.concat([legs.select("account_id", "currency"), target_legs.select("account_id", "currency")]).unique().sort(
        "account_id", "currency"
    )
    state_schema = {
        "account_id": pl.Utf8, "currency": pl.Utf8, "lock_version": pl.Int64, "posted_debits": pl.Int64,
        "posted_credits": pl.Int64, "pending_debits": pl.Int64, "pending_credits": pl.Int64, "version": pl.Int64,
    }
    if pairs.is_empty():
        return pl.DataFrame(schema=state_schema)
    state = batch.query_frame(
        read_sql("ledger/lock_balances.sql"), state_schema,
        {"account_ids": array_literal(pairs["account_id"]), "currencies": array_literal(pairs["currency"]),
         "whole_accounts": array_literal(legs.filter(pl.col("lock_version").is_not_null())["account_id"].unique().sort())},
    )
    normals = legs.select("account_id", "normal_balance").unique("account_id")
    return state.join(normals, on="account_id", how="left")


def replay_guards(
    batch: Batch, legs: pl.DataFrame, state: pl.DataFrame, moves: pl.DataFrame, reversals: pl.DataFrame, target_legs: pl.DataFrame
) -> None:
    """Replay the batch in file order and refuse what fails a condition, a lock version or the 64-bit range.

    The replay order is the file's: ``seq``, with the corrections (phase 1: a reversal and
    its replacement, in that order) after the rest. Lifecycle moves and reversals take part
    as the signed legs they add to the cached sums (:func:`_lifecycle_effects`), so a
    condition sees the balance a reversal or an archive earlier in the file has left.
    """
    candidates = batch.alive(legs)
    if candidates.is_empty():
        return
    postings = candidates.select(
        replay_order(pl.col("phase"), 1).alias("order"), "seq", "account", "account_id", "currency", "direction",
        "amount", "status", "lock_version", "conditions", pl.lit(1, pl.Int64).alias("bumps"),
    )
    effects = _lifecycle_effects(candidates, batch.alive(moves), batch.alive(reversals), target_legs)
    refusals = evaluate_guards(pl.concat([postings, effects], how="diagonal_relaxed"), state.drop_nulls("normal_balance"))
    if refusals:
        batch.refuse(pl.DataFrame(
            {"seq": [r.seq for r in refusals], "reason_code": [r.reason_code for r in refusals],
             "message": [r.message for r in refusals]},
            schema=REFUSALS_SCHEMA,
        ))


def _lifecycle_effects(
    legs: pl.DataFrame, moves: pl.DataFrame, reversals: pl.DataFrame, target_legs: pl.DataFrame
) -> pl.DataFrame:
    """The moves and reversals of the batch as signed legs, each at its event's place in the replay.

    A move to posted takes each leg of its target out of the pending sums and into the posted
    ones; a move to archived only takes it out of the pending sums; a reversal posts each
    leg of its target in the other direction. Each entry a move carries or a reversal posts
    adds one to its account's lock version (``bumps``).
    """
    in_batch = legs.select(
        pl.col("seq").alias("target_seq"), pl.col("phase").alias("target_phase"), "account", "account_id",
        "currency", "direction", "amount",
    )
    stored = target_legs.select(
        pl.col("transaction_id").alias("db_id"), pl.col("account_id").alias("account"), "account_id", "currency",
        "direction", "amount",
    )

    def legs_of(events: pl.DataFrame) -> pl.DataFrame:
        """The target legs of each event (``target_seq``/``target_phase`` in the batch, or ``db_id``)."""
        return pl.concat([
            events.drop("db_id").join(in_batch, on=["target_seq", "target_phase"], how="inner"),
            events.drop("target_seq", "target_phase").join(stored, on="db_id", how="inner"),
        ], how="diagonal_relaxed")

    parts = []
    if moves.height:
        moved = legs_of(moves.select(
            "seq", "to_status",
            # a reference named by a posting of this batch and a stored one means the batch's (see write.write_batch)
            pl.col("target_seq").cast(pl.Int64), pl.lit(0, pl.Int8).alias("target_phase"),
            pl.when(pl.col("target_seq").is_null()).then(pl.col("db_id")).alias("db_id"), pl.lit(0, pl.Int8).alias("phase"),
        ))
        out_of_pending = moved.with_columns(status=pl.lit("pending"), amount=-pl.col("amount"), bumps=pl.lit(1, pl.Int64))
        into_posted = moved.filter(pl.col("to_status") == "posted").with_columns(
            status=pl.lit("posted"), bumps=pl.lit(0, pl.Int64)
        )
        parts += [out_of_pending, into_posted]
    if reversals.height:
        corrections = legs.filter(pl.col("phase") == 1).select("seq").unique()
        is_correction = pl.col("seq").is_in(corrections["seq"].implode())
        reversed_legs = legs_of(reversals.select(
            "seq",
            pl.when(pl.col("rank") > 0).then(pl.col("previous_seq")).otherwise(pl.col("target_seq")).cast(pl.Int64)
            .alias("target_seq"),
            pl.when(pl.col("rank") > 0).then(pl.lit(1)).otherwise(pl.lit(0)).cast(pl.Int8).alias("target_phase"),
            # the write reverses the batch's own posting when a reference names both (see write._copy_reversals)
            pl.when((pl.col("rank") > 0) | pl.col("target_seq").is_not_null()).then(None)
            .otherwise(pl.col("db_id")).alias("db_id"),
            pl.when(is_correction).then(pl.lit(1)).otherwise(pl.lit(0)).cast(pl.Int8).alias("phase"),
        ))
        parts.append(reversed_legs.with_columns(
            status=pl.lit("posted"), bumps=pl.lit(1, pl.Int64),
            direction=pl.when(pl.col("direction") == "debit").then(pl.lit("credit")).otherwise(pl.lit("debit")),
        ))
    schema = {"order": pl.Int64, "seq": pl.Int64, "account": pl.Utf8, "account_id": pl.Utf8, "currency": pl.Utf8,
              "direction": pl.Utf8, "amount": pl.Int64, "status": pl.Utf8, "bumps": pl.Int64}
    if not parts:
        return pl.DataFrame(schema=schema)
    # A reversal in phase 1 comes just before the replacement of the same event (offset 0 < 1).
    return pl.concat(parts, how="diagonal_relaxed").select(
        replay_order(pl.col("phase"), 0).alias("order"), "seq", "account", "account_id", "currency", "direction",
        "amount", "status", "bumps",
    ).cast(schema)


def replay_order(phase: pl.Expr, offset: int) -> pl.Expr:
    """Where an event's rows sit in the guard replay: phase first, then seq; ``offset`` 0 runs before 1."""
    return (phase.cast(pl.Int64) * (1 << 41)) + pl.col("seq") * 2 + offset
