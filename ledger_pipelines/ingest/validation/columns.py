"""The frames validation returns: the typed events (:data:`EVENT_COLUMNS`) and one row per refused event
(:data:`REJECT_COLUMNS`), and how a check's failures become reject rows."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ledger_pipelines.accounting.calendar import (
    UTC_TIME,
)

EVENT_COLUMNS: dict[str, pl.DataType] = {
    "seq": pl.Int64,
    "line_no": pl.Int64,
    "raw": pl.Binary,
    "source_file": pl.Utf8,
    "event_id": pl.Utf8,
    "event_type": pl.Utf8,
    "effective_at": UTC_TIME,
    "recorded_at": UTC_TIME,  # as given, or the ingestion time
    "recorded_at_given": pl.Boolean,
    "subscription_id": pl.Utf8,
    "customer_id": pl.Utf8,
    "amount": pl.Int64,  # the envelope amount when it is an integer (the rule may not read it)
    "currency": pl.Utf8,
    "metadata": pl.Utf8,  # canonical JSON object (sorted keys, string values, unknown fields merged in)
    "payload": pl.Utf8,  # canonical JSON object (sorted keys, integers normalised)
    # JSON texts as sent (canonically escaped), for the hash and the source document
    "event_id_json": pl.Utf8,
    "event_type_json": pl.Utf8,
    "subscription_id_json": pl.Utf8,
    "customer_id_json": pl.Utf8,
    "currency_json": pl.Utf8,
    "amount_json": pl.Utf8,
}

REJECT_COLUMNS: dict[str, pl.DataType] = {
    "seq": pl.Int64, "line_no": pl.Int64, "event_id": pl.Utf8, "event_type": pl.Utf8, "reason_code": pl.Utf8,
    "message": pl.Utf8, "raw": pl.Binary, "source_file": pl.Utf8,
}


@dataclass
class Validated:
    events: pl.DataFrame  # EVENT_COLUMNS + payload columns (payload_column())
    rejects: pl.DataFrame  # REJECT_COLUMNS



def rejects_of(frame: pl.DataFrame, failures: pl.DataFrame) -> pl.DataFrame:
    """Failures (row, reason_code, message) -> REJECT_COLUMNS rows of ``frame`` (raw added later)."""
    if failures.is_empty():
        return pl.DataFrame(schema=REJECT_COLUMNS)
    picked = frame[failures["row"]]
    return pl.concat([picked.select("seq", "line_no", "event_id", "event_type", pl.lit(None, pl.Binary).alias("raw"), "source_file"),
                      failures.select("reason_code", "message")], how="horizontal").select(list(REJECT_COLUMNS)).cast(REJECT_COLUMNS)
