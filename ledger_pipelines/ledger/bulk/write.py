"""The write: binary COPY of the postings straight into the ledger, then moves, reversals and audit rows.

The ledger's own guards (statement triggers, the commit check) check every row written here
again; the stages before made sure none of them refuses the batch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import polars as pl

from ledger_pipelines.ledger.bulk.outcomes import PlanResult, outcomes
from ledger_pipelines.ledger.bulk.state import Batch, refusals
from ledger_pipelines.ledger.ids import uuid7_column
from ledger_pipelines.paths import read_sql
from ledger_pipelines.postgres.copy import copy_binary, copy_frame

# The columns a batch writes, in COPY order, with their Postgres types (for the binary COPY).
TRANSACTION_COLUMN_TYPES = {
    "transaction_id": "uuid", "idempotency_key": "text", "status": "text", "effective_at": "timestamptz",
    "posted_at": "timestamptz", "reference": "text", "source_event_id": "text", "source_event_type": "text",
    "batch_id": "uuid", "content_hash": "text", "description": "text", "metadata": "jsonb", "source": "jsonb",
}
ENTRY_COLUMN_TYPES = {
    "transaction_id": "uuid", "entry_no": "int4", "account_id": "uuid", "direction": "text", "amount": "int8",
    "currency": "text", "effective_at": "timestamptz",
}
TRANSACTION_COLUMNS = list(TRANSACTION_COLUMN_TYPES)
ENTRY_COLUMNS = list(ENTRY_COLUMN_TYPES)


def write_batch(batch: Batch, legs: pl.DataFrame, moves: pl.DataFrame, reversals: pl.DataFrame) -> PlanResult:
    """Write what stands: postings, moves, reversals and their replacements, the corrections' audit rows.

    Events are all-or-nothing: anything refused drops every row of its seq.
    """
    postings = batch.alive(batch.plan.postings)
    legs = batch.alive(legs)
    moves = batch.alive(moves)
    reversals = batch.alive(reversals)
    # Rows in key order with ids increasing in that order: the primary-key and idempotency-key
    # indexes then take the batch as an append, not as random inserts all over the tree. Phase
    # by phase, so the entries statements of the two phases cover disjoint id ranges, which lets
    # the commit check trust their tallies (ledger.check_at_commit).
    postings = postings.sort("phase", "idempotency_key").with_columns(transaction_id=_ascending_ids(postings.height))
    phase0_ids = postings.filter(pl.col("phase") == 0).select("seq", "transaction_id")
    phase1_ids = postings.filter(pl.col("phase") == 1).select("seq", "transaction_id")

    created = _copy_postings(batch, postings.filter(pl.col("phase") == 0), legs)

    moved_ids: list[str] = []
    if moves.height:
        with batch.stage("write.moves"):
            # A reference named by a posting of this batch and by a stored transaction means the
            # batch's (the latest created is the current one), as in lifecycle._resolve_moves.
            moves = moves.join(phase0_ids, left_on="target_seq", right_on="seq", how="left", suffix="_in_batch").with_columns(
                transaction_id=pl.coalesce("transaction_id", "db_id")
            )
            copy_frame(
                batch.conn, "bulk_moves",
                moves.select("transaction_id", "to_status", "at", pl.col("event_id").alias("transition_key"),
                             pl.col("content_hash").alias("transition_hash")),
                ["transaction_id", "to_status", "at", "transition_key", "transition_hash"],
            )
            moved_ids = [r[0] for r in batch.conn.execute(read_sql("ledger/bulk/apply_moves.sql")).fetchall()]
            missed = moves.filter(~pl.col("transaction_id").is_in(moved_ids))
            batch.refuse(refusals(
                missed, "invalid_transition", "the target was moved by another writer while this batch ran; it is no longer pending"
            ))

    # Reversals and the replacements that follow them, in rounds: the k-th correction of a
    # reference reverses what the (k-1)-th posted, so that must exist first.
    replacements = postings.filter(pl.col("phase") == 1)
    written_reversals = []
    max_rank = int(reversals["rank"].max()) if reversals.height else -1
    for rank in range(max_rank + 1):
        with batch.stage("write.reversals"):
            round_reversals = _copy_reversals(batch, reversals.filter(pl.col("rank") == rank), phase0_ids, phase1_ids)
        written_reversals.append(round_reversals)
        created += round_reversals.height
        created += _copy_postings(batch, replacements.join(round_reversals.select("seq"), on="seq", how="semi"), legs)
    reversals = pl.concat(written_reversals) if written_reversals else reversals
    created += _copy_postings(batch, replacements.join(reversals.select("seq"), on="seq", how="anti"), legs)
    with batch.stage("write.audit"):
        _audit_corrections(batch, replacements, reversals)

    return PlanResult(
        outcomes=outcomes(batch, postings, moves, reversals),
        transactions_created=created,
        entries_created=batch.entries_created,
        moves_applied=len(moved_ids),
        timings=batch.timings,
    )


def _copy_postings(batch: Batch, postings: pl.DataFrame, legs: pl.DataFrame) -> int:
    if postings.is_empty():
        return 0
    rows = postings.with_columns(
        posted_at=pl.when(pl.col("status") == "posted").then(pl.col("effective_at")),
        batch_id=pl.lit(batch.batch_id),
        source_event_id=pl.col("event_id"),
        source_event_type=pl.col("event_type"),
    )
    # The entry rows need only the transaction ids: a second thread builds them while the server
    # takes the transactions.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-entries") as pool:
        entry_rows = pool.submit(_entry_rows, legs, rows)
        with batch.stage("write.copy_transactions"):
            copy_binary(batch.conn, "ledger.transactions", rows, TRANSACTION_COLUMN_TYPES)
        entries = entry_rows.result()
    with batch.stage("write.copy_entries"):
        batch.entries_created += copy_binary(batch.conn, "ledger.entries", entries, ENTRY_COLUMN_TYPES)
    return rows.height


def _entry_rows(legs: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The entries of the transactions ``rows``, in COPY columns.

    In the order of the account index (account, currency, time): its pages fill one after the
    other instead of at random all over the history (fewer pages written, fewer full-page
    images: bench/floor_bench.py); the primary key's random inserts stay within this batch's ids.
    """
    return legs.join(rows.select("seq", "idempotency_key", "transaction_id"), on=["seq", "idempotency_key"], how="inner").select(
        "transaction_id", pl.col("leg_no").alias("entry_no"), "account_id", "direction", "amount", "currency",
        "effective_at",
    ).sort("account_id", "currency", "effective_at")


def _copy_reversals(batch: Batch, reversals: pl.DataFrame, phase0_ids: pl.DataFrame, phase1_ids: pl.DataFrame) -> pl.DataFrame:
    """Insert the reversing transactions and their flipped entries (set-based, in SQL)."""
    rows = (
        reversals
        .join(phase0_ids.rename({"seq": "target_seq", "transaction_id": "target_in_batch"}), on="target_seq", how="left")
        .join(phase1_ids.rename({"seq": "previous_seq", "transaction_id": "replaced_in_batch"}), on="previous_seq", how="left")
        .with_columns(
            transaction_id=_ascending_ids(reversals.height),
            target_id=pl.when(pl.col("rank") > 0).then(pl.col("replaced_in_batch"))
            .otherwise(pl.coalesce("target_in_batch", "db_id")),
            description=pl.format("Reversal of {}{}", pl.col("name"),
                                  pl.when(pl.col("reason").is_not_null()).then(pl.lit(": ") + pl.col("reason")).otherwise(pl.lit(""))),
            batch_id=pl.lit(batch.batch_id),
            source_event_id=pl.col("event_id"),
            source_event_type=pl.col("event_type"),
        )
    )
    columns = ["transaction_id", "idempotency_key", "effective_at", "target_id", "description", "metadata",
               "source_event_id", "source_event_type", "content_hash", "batch_id"]
    if rows.is_empty():
        return rows
    batch.conn.execute("TRUNCATE bulk_reversals")
    copy_frame(batch.conn, "bulk_reversals", rows, columns)
    batch.conn.execute(read_sql("ledger/bulk/insert_reversals.sql"))
    batch.entries_created += batch.conn.execute(read_sql("ledger/bulk/insert_reversal_entries.sql")).rowcount
    return rows


def _audit_corrections(batch: Batch, replacements: pl.DataFrame, reversals: pl.DataFrame) -> None:
    """Corrections (reversals by reference) link the reversal and the replacement in the audit log."""
    corrections = reversals.filter(pl.col("kind") == "reference")
    if corrections.is_empty():
        return
    pairs = corrections.join(
        replacements.select("seq", pl.col("transaction_id").alias("replacement_transaction_id")), on="seq", how="left"
    )
    batch.conn.execute(read_sql("ledger/bulk/insert_audit.sql"), {
        "reversals": pairs["transaction_id"].to_list(), "replacements": pairs["replacement_transaction_id"].to_list()})


def _ascending_ids(n: int) -> pl.Series:
    """``n`` UUIDv7 transaction ids in ascending order (the same values, sorted: as random, time-ordered)."""
    return uuid7_column(n).sort()
