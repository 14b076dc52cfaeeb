"""The canonical content hash of an event: same event, same hash, whatever the file format.

``content_hash`` is the lower-case hex SHA-256 of the event's *canonical record*: these fields,
in this order, joined by the unit separator U+001F (which no accepted string can contain), an
absent field as the empty string::

    v1                  format version of the record
    amount              the integer when the amount is one (JSON number or decimal string),
                        else the JSON as sent
    currency            JSON string
    customer_id         JSON string
    effective_at        the resolved instant: integer microseconds since 1970-01-01T00:00Z
    event_id            JSON string
    event_type          JSON string
    metadata            canonical metadata: JSON object, keys sorted, string values, unknown
                        top-level fields merged in
    payload             canonical payload: JSON object, keys sorted, declared integers as integers
    recorded_at         integer microseconds, only when the source sent recorded_at
    subscription_id     JSON string

JSON strings are in one canonical escaping (every format's values pass through the same
serialiser), so ``"amount": 1250`` in JSONL, ``1250`` in a CSV cell and an int64 Parquet column
hash the same; ``"2024-03-01T01:00:00+01:00"`` and ``"2024-03-01T00:00:00Z"`` hash the same; key
order and whitespace never matter. The ledger stores the hash as ``transactions.content_hash``:
the same event id with the same hash again is a duplicate, with another hash a conflict.
"""

from __future__ import annotations

import polars as pl

from ledger_pipelines.ingest import jsontext

RECORD_VERSION = "v1"
SEPARATOR = "\x1f"


def instant_text(expr: pl.Expr) -> pl.Expr:
    """A UTC instant as fixed-width RFC 3339 text with microseconds and ``Z`` (for documents)."""
    return expr.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%6fZ")


def _micros(expr: pl.Expr) -> pl.Expr:
    return expr.dt.epoch("us").cast(pl.Utf8)


def canonical_record(events: pl.DataFrame) -> pl.Series:
    """The canonical record of each validated event (see the module docs)."""
    parts = [
        pl.lit(RECORD_VERSION),
        pl.coalesce(pl.col("amount").cast(pl.Utf8), pl.col("amount_json")),
        pl.col("currency_json"),
        pl.col("customer_id_json"),
        _micros(pl.col("effective_at")),
        pl.col("event_id_json"),
        pl.col("event_type_json"),
        pl.col("metadata"),
        pl.col("payload"),
        pl.when(pl.col("recorded_at_given")).then(_micros(pl.col("recorded_at"))),
        pl.col("subscription_id_json"),
    ]
    return events.select(
        pl.concat_str([p.fill_null("") for p in parts], separator=SEPARATOR).alias("record")
    ).to_series()


def content_hashes(events: pl.DataFrame) -> pl.Series:
    """SHA-256 (hex) of each event's canonical record."""
    return jsontext.sha256_hex(canonical_record(events)).rename("content_hash")
