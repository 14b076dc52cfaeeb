"""Deliberately bad events (~0.1%), each of a kind whose reason code is known in advance.

A bad event is a *copy* of a good event (with a fresh event id, except the conflict kind, which
reuses the id with different content) placed right after it in the same file, then damaged in
one way. So the good stream stays intact and every bad event must come back quarantined with
exactly the reason listed in :data:`KINDS`. Only the handful of bad events are built in Python.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

# kind -> expected reason code
KINDS: dict[str, str] = {
    "broken_line": "malformed_json",  # JSON files; CSV files get "ragged_row" instead
    "ragged_row": "malformed_csv_row",
    "fractional_amount": "amount_not_integer",
    "huge_amount": "amount_out_of_range",
    "lower_case_currency": "unknown_currency",
    "no_offset": "timestamp_without_offset",
    "typo_event_type": "unknown_event_type",
    "no_customer": "missing_field",
    "reused_event_id": "event_id_conflict",
    "escape_in_customer": "control_characters",
    "colon_in_subscription": "invalid_account",
    "before_1970": "effective_at_out_of_range",
    "unbalanced_payout": "unbalanced",
}

# kinds a file format can carry
FORMAT_KINDS: dict[str, tuple[str, ...]] = {
    "jsonl": tuple(k for k in KINDS if k != "ragged_row"),
    "csv": tuple(k for k in KINDS if k != "broken_line"),
    "parquet": tuple(k for k in KINDS if k not in ("broken_line", "ragged_row", "fractional_amount", "huge_amount")),
}


def pick(rows: pl.DataFrame, fmt: str, rate: float, rng: np.random.Generator) -> list[tuple[int, str]]:
    """``(row index, kind)`` of the bad copies to make in one file (at least one of each kind it can carry)."""
    kinds = FORMAT_KINDS["jsonl" if fmt == "jsonl.gz" else fmt]
    invoices = np.flatnonzero(rows["event_type"].to_numpy() == "invoice.issued")
    journals = np.flatnonzero((rows["event_type"].to_numpy() == "journal.posted")
                              & rows["payload"].str.contains("Payout", literal=True).to_numpy())
    if len(invoices) == 0:
        return []
    count = max(len(kinds), int(round(rows.height * rate)))
    chosen = []
    for number in range(count):
        kind = kinds[number % len(kinds)]
        pool = journals if kind == "unbalanced_payout" else invoices
        if len(pool) == 0:
            continue
        chosen.append((int(pool[rng.integers(0, len(pool))]), kind))
    return chosen


def damage(row: dict, kind: str, serial: int) -> dict:
    """A damaged copy of ``row`` (a dict of the file columns, payload/metadata as JSON text)."""
    bad = dict(row)
    if kind != "reused_event_id":
        bad["event_id"] = f"{row['event_id']}_bad{serial}"
    if kind == "fractional_amount":
        bad["amount"] = 12.5
    elif kind == "huge_amount":
        bad["amount"] = 9223372036854775808
    elif kind == "lower_case_currency":
        bad["currency"] = (row["currency"] or "usd").lower()
    elif kind == "no_offset":
        bad["effective_at"] = "2024-03-05T10:00:00"
    elif kind == "typo_event_type":
        bad["event_type"] = row["event_type"] + "d"
    elif kind == "no_customer":
        bad["customer_id"] = None
    elif kind == "reused_event_id":
        bad["amount"] = (row["amount"] or 0) + 1
    elif kind == "escape_in_customer":
        bad["customer_id"] = (row["customer_id"] or "") + "\x1b[31m"
    elif kind == "colon_in_subscription":
        bad["subscription_id"] = (row["subscription_id"] or "") + ":x"
    elif kind == "before_1970":
        bad["effective_at"] = "1969-07-20"
    elif kind == "unbalanced_payout":
        payload = json.loads(row["payload"])
        payload["legs"][0]["amount"] += 1
        bad["payload"] = json.dumps(payload, separators=(",", ":"))
    return bad


def json_line(row: dict) -> str:
    """A bad event as one JSON line (fields in contract order, absent ones left out)."""
    parts = []
    for key in ("event_id", "event_type", "effective_at", "recorded_at", "subscription_id", "customer_id", "amount",
                "currency", "payload", "metadata"):
        value = row.get(key)
        if value is None:
            continue
        text = value if key in ("payload", "metadata") else json.dumps(value, ensure_ascii=False)
        parts.append(f'"{key}":{text}')
    return "{" + ",".join(parts) + "}"
