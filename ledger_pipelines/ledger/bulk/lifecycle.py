"""Lifecycle moves and reversals: their targets found, in the batch or in the ledger, and checked.

A move takes a pending transaction to posted or archived, once, never dated before the
transaction's effective_at (I4); a reversal reverses a posted transaction, at most once (by key)
or the current one of a chain of corrections (by reference). Everything the lifecycle trigger or
the reversal check would refuse is refused here per event first, so one bad event never fails the
batch; the database still checks every row.
"""

from __future__ import annotations

import polars as pl

from ledger_pipelines.ledger.bulk.state import Batch, refusals
from ledger_pipelines.ledger.plan import UTC_TIME
from ledger_pipelines.paths import read_sql
from ledger_pipelines.postgres.copy import array_literal, copy_frame

# The legs of a stored target (target_pairs.sql).
TARGET_LEGS = {"transaction_id": pl.Utf8, "account_id": pl.Utf8, "currency": pl.Utf8, "direction": pl.Utf8, "amount": pl.Int64}


def existing_targets(batch: Batch) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The stored transactions the batch's moves and reversals name, and their legs.

    By key, the transaction with that idempotency key; by reference, the *current* one (not a
    reversal, not reversed, the latest created): ``sql/ledger/bulk/resolve_targets.sql``. The legs
    (``target_pairs.sql``) are what a move or reversal will lock and change.
    """
    p = batch.plan
    names = pl.concat([
        p.transitions.select(pl.lit("key").alias("kind"), pl.col("target_key").alias("name")),
        p.transitions.select(pl.lit("reference").alias("kind"), pl.col("target_reference").alias("name")),
        p.reversals.select(pl.lit("key").alias("kind"), pl.col("target_key").alias("name")),
        p.reversals.select(pl.lit("reference").alias("kind"), pl.col("target_reference").alias("name")),
    ]).drop_nulls().unique()
    targets_schema = {"kind": pl.Utf8, "name": pl.Utf8, "transaction_id": pl.Utf8, "status": pl.Utf8,
                      "effective_at": UTC_TIME, "reversed": pl.Boolean}
    if names.is_empty():
        return pl.DataFrame(schema=targets_schema), pl.DataFrame(schema=TARGET_LEGS)
    copy_frame(batch.conn, "bulk_target_names", names, ["kind", "name"])
    targets = batch.query_frame(read_sql("ledger/bulk/resolve_targets.sql"), targets_schema)
    target_legs = batch.query_frame(
        read_sql("ledger/bulk/target_pairs.sql"), TARGET_LEGS, {"ids": array_literal(targets["transaction_id"].unique())}
    )
    return targets, target_legs


def resolve_lifecycle(batch: Batch, db_targets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The moves and the reversals that stand, each with its target (in the batch or stored); the rest refused.

    A name (key or reference) means the batch's own posting before a stored one: the latest
    created is the current one.
    """
    postings = batch.alive(batch.plan.postings)
    phase0 = postings.filter(pl.col("phase") == 0)
    in_batch_by_key = phase0.select(
        pl.col("idempotency_key").alias("name"), pl.lit("key").alias("kind"), pl.col("status").alias("batch_status"),
        pl.col("seq").alias("target_seq"), pl.col("effective_at").alias("batch_effective_at"),
    )
    in_batch_by_ref = (
        phase0.drop_nulls("reference").sort("seq").unique("reference", keep="last")
        .select(pl.col("reference").alias("name"), pl.lit("reference").alias("kind"),
                pl.col("status").alias("batch_status"), pl.col("seq").alias("target_seq"),
                pl.col("effective_at").alias("batch_effective_at"))
    )
    in_batch = pl.concat([in_batch_by_key, in_batch_by_ref])
    moves = _resolve_moves(batch, in_batch, db_targets)
    reversals = _resolve_reversals(batch, in_batch, db_targets, moves, postings)
    return moves, reversals


def _target_columns(frame: pl.DataFrame, in_batch: pl.DataFrame, db_targets: pl.DataFrame) -> pl.DataFrame:
    named = frame.with_columns(
        kind=pl.when(pl.col("target_key").is_not_null()).then(pl.lit("key")).otherwise(pl.lit("reference")),
        name=pl.coalesce("target_key", "target_reference"),
    )
    return (
        named.join(in_batch, on=["kind", "name"], how="left")
        .join(db_targets.rename({"transaction_id": "db_id", "status": "db_status", "effective_at": "db_effective_at",
                                 "reversed": "db_reversed"}),
              on=["kind", "name"], how="left")
    )


def _resolve_moves(batch: Batch, in_batch: pl.DataFrame, db_targets: pl.DataFrame) -> pl.DataFrame:
    moves = _target_columns(batch.alive(batch.plan.transitions), in_batch, db_targets)
    unknown = moves.filter(pl.col("target_seq").is_null() & pl.col("db_id").is_null())
    batch.refuse(refusals(
        unknown, "unknown_target",
        pl.format("no current transaction matches {} {}: it was never posted, was quarantined, or was reversed "
                  "(a reversed transaction no longer moves). Post (or replay) the original first, then replay this "
                  "event.", pl.col("kind"), pl.col("name")),
    ))
    moves = moves.join(unknown.select("seq"), on="seq", how="anti").with_columns(
        current=pl.coalesce("batch_status", "db_status"),
        target=pl.coalesce(pl.col("target_seq").cast(pl.Utf8), pl.col("db_id")),
    )
    not_pending = moves.filter(pl.col("current") != "pending")
    batch.refuse(refusals(
        not_pending, "invalid_transition",
        pl.format("the target ({} {}) is {}; only a pending transaction can move to {}", pl.col("kind"),
                  pl.col("name"), pl.col("current"), pl.col("to_status")),
    ))
    moves = moves.join(not_pending.select("seq"), on="seq", how="anti")
    # A move is never dated before the transaction's own effective time (I4; the lifecycle
    # trigger refuses it too, LDG04): a settlement before its payment began is a producer's error.
    early = moves.filter(pl.col("at") < pl.coalesce("batch_effective_at", "db_effective_at"))
    batch.refuse(refusals(
        early, "invalid_transition",
        pl.format("this event's effective_at ({}) is before the effective_at of its target ({} {}, {}); a "
                  "transaction cannot be {} before it happened. Correct the event's time and replay it.",
                  pl.col("at").dt.to_string("%Y-%m-%dT%H:%M:%S%.f%z"), pl.col("kind"), pl.col("name"),
                  pl.coalesce("batch_effective_at", "db_effective_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.f%z"),
                  pl.col("to_status")),
    ))
    moves = moves.join(early.select("seq"), on="seq", how="anti").sort("seq")
    later = moves.filter(pl.int_range(pl.len()).over("target") > 0)
    batch.refuse(refusals(
        later, "invalid_transition",
        pl.format("an earlier event of this batch already moves {} {}; a pending transaction moves once",
                  pl.col("kind"), pl.col("name")),
    ))
    return moves.join(later.select("seq"), on="seq", how="anti")


def _resolve_reversals(
    batch: Batch, in_batch: pl.DataFrame, db_targets: pl.DataFrame, moves: pl.DataFrame, postings: pl.DataFrame
) -> pl.DataFrame:
    """Reversals whose target is posted when they run; the rest are refused.

    Several reversals of one target in a batch: by key, the first stands; by reference (a
    chain of corrections), the k-th reverses the replacement the (k-1)-th posted.
    """
    resolved = (
        _target_columns(batch.alive(batch.plan.reversals), in_batch, db_targets)
        .sort("seq")
        .with_columns(
            rank=pl.int_range(pl.len()).over("kind", "name"),
            previous_seq=pl.col("seq").shift(1).over("kind", "name"),
        )
    )
    replacements = postings.filter(pl.col("phase") == 1).select(
        pl.col("seq").alias("previous_seq"), pl.col("reference").alias("name"), pl.lit(True).alias("has_replacement")
    )
    resolved = resolved.join(replacements, on=["previous_seq", "name"], how="left")
    target = pl.coalesce(pl.col("target_seq").cast(pl.Utf8), pl.col("db_id"))
    posted_now = moves.filter(pl.col("to_status") == "posted")["target"].implode()
    archived_now = moves.filter(pl.col("to_status") == "archived")["target"].implode()
    # A reversal written by this same batch is not a target yet (its legs are written in the same
    # statement as the reversals that would flip them back): refused with what to do instead.
    batch_reversal_keys = batch.alive(batch.plan.reversals)["idempotency_key"].implode()
    resolved = resolved.with_columns(
        state=pl.when(target.is_null() & (pl.col("kind") == "key") & pl.col("name").is_in(batch_reversal_keys))
        .then(pl.lit("reversal_in_batch"))
        .when((pl.col("rank") > 0) & pl.col("has_replacement").fill_null(False)).then(pl.lit("posted"))
        .when((pl.col("rank") > 0) & (pl.col("kind") == "key")).then(pl.lit("reversed"))
        .when(pl.col("rank") > 0).then(pl.lit("unknown"))
        .when(target.is_null()).then(pl.lit("unknown"))
        .when(pl.col("db_reversed").fill_null(False)).then(pl.lit("reversed"))
        .when(target.is_in(posted_now)).then(pl.lit("posted"))
        .when(target.is_in(archived_now)).then(pl.lit("archived"))
        .otherwise(pl.coalesce("batch_status", "db_status"))
    )
    batch.refuse(refusals(
        resolved.filter(pl.col("state") == "reversal_in_batch"), "invalid_transition",
        pl.format("the target (key {}) is a reversal posted by this same file; a reversal can be reversed once it "
                  "is in the ledger: send this event in a later file (or `subledger replay` it after this file)",
                  pl.col("name")),
    ))
    batch.refuse(refusals(
        resolved.filter(pl.col("state") == "unknown"), "unknown_target",
        pl.format("no current transaction matches {} {} (never posted, quarantined, or already reversed); post or "
                  "replay the original first", pl.col("kind"), pl.col("name")),
    ))
    batch.refuse(refusals(
        resolved.filter(pl.col("state") == "reversed"), "invalid_transition",
        pl.format("the target ({} {}) is already reversed; a transaction is reversed at most once",
                  pl.col("kind"), pl.col("name")),
    ))
    batch.refuse(refusals(
        resolved.filter(~pl.col("state").is_in(["posted", "unknown", "reversed", "reversal_in_batch"])), "invalid_transition",
        pl.format("the target ({} {}) is {}; only a posted transaction can be reversed (archive a pending one)",
                  pl.col("kind"), pl.col("name"), pl.col("state")),
    ))
    return resolved.filter(pl.col("state") == "posted")
