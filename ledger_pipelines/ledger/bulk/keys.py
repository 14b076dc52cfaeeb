"""Idempotency, business references and closed periods: what a batch refuses before touching an account.

One COPY of the batch's keys (``bulk_keys``) serves both probes of the ledger: keys already used
(``sql/ledger/bulk/existing_keys.sql``) and business references already held
(``reference_conflicts.sql``); each is one unique-index probe per key, so the cost follows the
batch, not the ledger. These run under the batch's advisory lock, so two batches never both
decide that a key is new.
"""

from __future__ import annotations

import polars as pl

from ledger_pipelines.ledger.bulk.state import Batch, refusals
from ledger_pipelines.paths import read_sql
from ledger_pipelines.postgres.copy import copy_binary


def check_keys(batch: Batch) -> None:
    """Events whose key the batch or the ledger already holds: ``duplicate`` (same content) or ``event_id_conflict``.

    Keys are idempotency keys of postings and reversals and the event ids of lifecycle moves
    (their ``transition_key``); the same key on two events of the batch: the first stands.
    """
    p = batch.plan
    no_reference = pl.lit(None, pl.Utf8).alias("reference")
    keys = pl.concat([
        # a creating posting's business reference rides along for check_references (one COPY for both)
        p.postings.select("seq", pl.col("idempotency_key").alias("key"), "content_hash",
                          pl.when(pl.col("phase") == 0).then(pl.col("reference")).alias("reference")),
        p.transitions.select("seq", pl.col("event_id").alias("key"), "content_hash", no_reference),
        p.reversals.select("seq", pl.col("idempotency_key").alias("key"), "content_hash", no_reference),
    ])
    # The same key on two different events of one plan: the first stands.
    first = keys.sort("seq").unique("key", keep="first").select("key", pl.col("seq").alias("first_seq"), pl.col("content_hash").alias("first_hash"))
    repeated = keys.join(first, on="key").filter(pl.col("seq") != pl.col("first_seq"))
    batch.refuse(refusals(
        repeated.filter(pl.col("content_hash") != pl.col("first_hash")), "event_id_conflict",
        pl.format("key {} is used by an earlier event of this batch with different content; the first one stands", pl.col("key")),
    ))
    batch.duplicates = pl.concat([
        batch.duplicates,
        repeated.filter(pl.col("content_hash") == pl.col("first_hash")).select("seq", pl.lit(None, pl.Utf8).alias("transaction_id")),
    ]).unique("seq")

    with batch.stage("idempotency.copy_keys"):
        copy_binary(batch.conn, "bulk_keys", keys, {"seq": "int8", "key": "text", "content_hash": "text", "reference": "text"})
    with batch.stage("idempotency.probes"):
        found = batch.query_frame(
            read_sql("ledger/bulk/existing_keys.sql"),
            {"seq": pl.Int64, "key": pl.Utf8, "stored_hash": pl.Utf8, "transaction_id": pl.Utf8},
        )
    if found.is_empty():
        return
    found = found.join(keys.select("seq", "key", "content_hash"), on=["seq", "key"], how="left")
    per_event = found.group_by("seq").agg(
        same=(pl.col("stored_hash") == pl.col("content_hash")).all(),
        transaction_id=pl.col("transaction_id").first(),
        key=pl.col("key").first(),
    )
    batch.refuse(refusals(
        per_event.filter(~pl.col("same")), "event_id_conflict",
        pl.format("event id {} was already used by ledger transaction {} with different content; the first one stands. "
                  "Send the change as a new event (e.g. a reversal and a new posting).", pl.col("key"), pl.col("transaction_id")),
    ))
    batch.duplicates = pl.concat([batch.duplicates, per_event.filter(pl.col("same")).select("seq", "transaction_id")]).unique("seq")


def check_references(batch: Batch) -> None:
    """A business reference names one thing for the life of the ledger (contract ruling, December 2026).

    A creating posting (phase 0 with a ``reference``, e.g. ``invoice:<id>``) whose reference an
    earlier event of the batch or a stored transaction of another event holds is refused as
    ``reference_conflict``; the first stands. Duplicates and id conflicts were settled before,
    so the same event sent again is never a reference conflict. One query for the batch.
    """
    creating = (batch.alive(batch.plan.postings).filter((pl.col("phase") == 0) & pl.col("reference").is_not_null())
                .select("seq", "reference", pl.col("idempotency_key").alias("key")).sort("seq"))
    if creating.is_empty():
        return
    first = creating.unique("reference", keep="first", maintain_order=True)
    later = creating.join(first.select("reference", pl.col("seq").alias("first_seq"), pl.col("key").alias("first_key")),
                          on="reference").filter(pl.col("seq") != pl.col("first_seq"))
    batch.refuse(refusals(
        later, "reference_conflict",
        pl.format("{} was already created by event {} earlier in this batch; a reference names one thing for the life "
                  "of the ledger and the first one stands. Give the new one its own id.", pl.col("reference"),
                  pl.col("first_key")),
    ))
    stored = batch.query_frame(read_sql("ledger/bulk/reference_conflicts.sql"),  # probes bulk_keys (see check_keys)
                               {"seq": pl.Int64, "reference": pl.Utf8, "transaction_id": pl.Utf8, "key": pl.Utf8})
    batch.refuse(refusals(
        stored.join(first.select("seq"), on="seq", how="semi").sort("seq"), "reference_conflict",
        pl.format("{} already names ledger transaction {} (event {}); a reference names one thing for the life of the "
                  "ledger and the first one stands. Give the new one its own id, or send a reversal or correction "
                  "that names the existing one.", pl.col("reference"), pl.col("transaction_id"), pl.col("key")),
    ))


def check_closed_periods(batch: Batch) -> None:
    """Refuse what takes effect in a closed period (``period_closed``).

    Only events still alive are looked at: an event already known to be a duplicate (the same
    id and content, redelivered after its period was closed) stays ``duplicate`` (contract
    ruling, December 2026).
    """
    closed = batch.query_frame(
        read_sql("ledger/bulk/closed_periods.sql"),
        {"period": pl.Utf8, "starts_at": pl.Datetime("us", "UTC"), "ends_at": pl.Datetime("us", "UTC")},
    )
    if closed.is_empty():
        return
    p = batch.plan
    dated = batch.alive(pl.concat([
        p.postings.select("seq", pl.col("effective_at").alias("at")),
        p.transitions.select("seq", "at"),
        p.reversals.select("seq", pl.col("effective_at").alias("at")),
    ]))
    hits = dated.join_where(closed, pl.col("at") >= pl.col("starts_at"), pl.col("at") < pl.col("ends_at"))
    batch.refuse(refusals(
        hits.sort("seq"), "period_closed",
        pl.format("it takes effect at {}, inside the closed period {}. Date it in an open period, or ask finance to "
                  "reopen the period and replay it.", pl.col("at").dt.to_string("%Y-%m-%dT%H:%M:%S%z"), pl.col("period")),
    ))
