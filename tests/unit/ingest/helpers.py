"""Build source files in every format from event dicts, and run the front end on them."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ledger_pipelines.config import Settings, load_settings
from ledger_pipelines.ingest.prepare import PreparedBatch, prepare_batch
from ledger_pipelines.ingest.rules import RuleSet, load_rules

FORMATS = ("jsonl", "jsonl.gz", "csv", "parquet")
COLUMNS = ("event_id", "event_type", "effective_at", "recorded_at", "subscription_id", "customer_id", "amount",
           "currency", "payload", "metadata")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

_RULES: RuleSet | None = None


def rules() -> RuleSet:
    global _RULES
    if _RULES is None:
        _RULES = load_rules(environ={})
    return _RULES


def settings(tmp_path: Path, **env: str) -> Settings:
    return load_settings({"SUBLEDGER_HOME": str(tmp_path / "home"), **env})


def invoice(event_id: str = "evt_1", **changes) -> dict:
    """A valid invoice.issued event; ``changes`` replace fields (None removes one)."""
    event = {
        "event_id": event_id,
        "event_type": "invoice.issued",
        "effective_at": "2024-03-01T10:00:00Z",
        "recorded_at": "2024-03-01T10:00:05Z",
        "subscription_id": "sub_1",
        "customer_id": "cus_1",
        "amount": 2900,
        "currency": "USD",
        "payload": {"invoice_id": "inv_1", "plan_id": "pro", "period_start": "2024-03-01", "period_end": "2024-03-31"},
        "metadata": {"region": "eu"},
    }
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def journal(event_id: str = "jnl_1", legs: list | None = None, **changes) -> dict:
    event = {
        "event_id": event_id,
        "event_type": "journal.posted",
        "effective_at": "2024-03-02T06:00:00Z",
        "payload": {"description": "payout", "legs": legs if legs is not None else [
            {"account": "assets:cash", "direction": "debit", "amount": 970, "currency": "USD"},
            {"account": "expenses:payment_fees", "direction": "debit", "amount": 30, "currency": "USD"},
            {"account": "assets:cash:in_transit", "direction": "credit", "amount": 1000, "currency": "USD"},
        ]},
    }
    event.update(changes)
    return event


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def write(tmp_path: Path, events: list[dict | str], fmt: str, name: str = "events") -> Path:
    """Write ``events`` (dicts, or raw lines for JSON formats) as one file of format ``fmt``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{name}.{fmt}"
    extra = sorted({k for e in events if isinstance(e, dict) for k in e if k not in COLUMNS})
    columns = (*COLUMNS, *extra)
    if fmt in ("jsonl", "jsonl.gz"):
        lines = [e if isinstance(e, str) else json.dumps(e, ensure_ascii=False) for e in events]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        path.write_bytes(gzip.compress(data, mtime=0) if fmt == "jsonl.gz" else data)
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for event in events:
            assert isinstance(event, dict)
            writer.writerow([_cell(event.get(c)) for c in columns])
        path.write_text(buffer.getvalue(), encoding="utf-8")
    elif fmt == "parquet":
        rows = {c: [e.get(c) for e in events] for c in columns}  # type: ignore[union-attr]
        frame = {}
        for column, values in rows.items():
            present = [v for v in values if v is not None]
            if column in ("payload", "metadata") or any(isinstance(v, (dict, list)) for v in present):
                frame[column] = pl.Series(column, [None if v is None else json.dumps(v, ensure_ascii=False) for v in values], dtype=pl.Utf8)
            elif present and all(isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63 for v in present):
                frame[column] = pl.Series(column, values, dtype=pl.Int64)
            elif present and all(isinstance(v, float) for v in present):
                frame[column] = pl.Series(column, values, dtype=pl.Float64)
            else:
                frame[column] = pl.Series(column, [None if v is None else str(v) for v in values], dtype=pl.Utf8)
        pl.DataFrame(frame).write_parquet(path)
    else:
        raise ValueError(fmt)
    return path


def prepare(tmp_path: Path, sources: list, **env: str) -> PreparedBatch:
    return prepare_batch(sources, rules(), settings(tmp_path, **env), now=NOW)


def run(tmp_path: Path, events: list[dict | str], fmt: str = "jsonl", **env: str) -> PreparedBatch:
    return prepare(tmp_path, [write(tmp_path, events, fmt)], **env)


def only_reject(batch: PreparedBatch) -> dict:
    """The single reject of a batch (asserting there is exactly one)."""
    assert batch.rejects.height == 1, batch.rejects.select("line_no", "reason_code", "message").to_dicts()
    return batch.rejects.row(0, named=True)


def assert_accounted(batch: PreparedBatch) -> None:
    counts = batch.counts
    assert counts["events"] == counts["planned"] + counts["rejected"] + counts["duplicates"]
