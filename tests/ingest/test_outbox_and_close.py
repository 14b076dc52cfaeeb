"""The outbox is drained without skipping late commits; closed months stay closed."""

from __future__ import annotations

import json

import psycopg
from click.testing import CliRunner

from ledger_pipelines.cli import main
from ledger_pipelines.config import load_settings
from ledger_pipelines.ingest.ingestor import ingest_paths
from ledger_pipelines.service.queue import drain, merge_reports

OUTBOX_INSERT = (
    "INSERT INTO ingest.outbox (event_id, event_type, effective_at, subscription_id, customer_id, amount, currency, payload) "
    "VALUES (%s, 'invoice.issued', %s, 'sub_o', 'cus_o', %s, 'EUR', %s)"
)


def _payload(invoice_id: str) -> str:
    """An invoice payload; each invoice has its own id (a reused one is a reference_conflict)."""
    return json.dumps({"invoice_id": invoice_id, "plan_id": "pro", "period_start": "2024-05-01", "period_end": "2024-05-31"})


def _posted_keys(dsn):
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT idempotency_key FROM ledger.transactions").fetchall()}


def test_outbox_rows_are_read_once_and_a_late_commit_is_not_skipped(ingest_env, ledger_db):
    app = psycopg.connect(ledger_db.writer_dsn)  # the application writes with the writer role
    late = psycopg.connect(ledger_db.writer_dsn)
    app.execute(OUTBOX_INSERT, ["o1", "2024-05-02T00:00:00Z", "100", _payload("inv_o1")])
    app.commit()
    late.execute(OUTBOX_INSERT, ["o-late", "2024-05-02T00:00:00Z", "300", _payload("inv_o-late")])  # open, not committed yet
    app.execute(OUTBOX_INSERT, ["o2", "2024-05-03T00:00:00+02:00", "200", _payload("inv_o2")])
    app.commit()

    first = merge_reports(drain(load_settings()))
    assert first is not None and first.posted == 2  # o1 and o2: committed; o-late is not yet
    late.commit()
    second = merge_reports(drain(load_settings()))
    assert second is not None and second.posted == 1  # the late commit is not skipped
    assert drain(load_settings()) == []
    assert _posted_keys(ledger_db.dsn) == {"o1", "o2", "o-late"}
    app.close()
    late.close()


def test_outbox_rows_get_the_same_validation_as_files(ingest_env, ledger_db):
    with psycopg.connect(ledger_db.writer_dsn) as app:
        app.execute(OUTBOX_INSERT, ["no-offset", "2024-05-02T00:00:00", "100", _payload("inv_no-offset")])
        app.execute(OUTBOX_INSERT, ["float", "2024-05-02T00:00:00Z", "1.5", _payload("inv_float")])
    report = merge_reports(drain(load_settings()))
    assert report.quarantined == 2
    assert report.reasons == {"timestamp_without_offset": 1, "amount_not_integer": 1}


def _invoice(event_id, effective_at):
    return {"event_id": event_id, "event_type": "invoice.issued", "effective_at": effective_at, "subscription_id": "s",
            "customer_id": "c", "amount": 700, "currency": "USD",
            "payload": {"invoice_id": event_id, "plan_id": "pro", "period_start": "2024-01-01", "period_end": "2024-01-31"}}


def test_closing_a_month_quarantines_late_events_by_default(ingest_env, ledger_db, write_events):
    runner = CliRunner()
    closed = runner.invoke(main, ["close", "2024-01", "--reason", "January books closed", "--json"])
    assert closed.exit_code == 0, closed.output
    assert json.loads(closed.stdout)["action"] == "closed"
    assert runner.invoke(main, ["close", "2024-01"]).exit_code == 1  # already closed
    assert runner.invoke(main, ["close", "2999-01"]).exit_code == 1  # has not ended
    report = ingest_paths(ingest_env, [write_events("late.jsonl", [_invoice("jan", "2024-01-20"), _invoice("feb", "2024-02-02")])])[0]
    assert (report.posted, report.reasons) == (1, {"period_closed": 1})
    with psycopg.connect(ledger_db.dsn) as conn:
        audit = conn.execute("SELECT action, target_id, reason FROM ledger.audit_log WHERE target_type = 'period'").fetchall()
    assert audit == [("period.close", "2024-01", "January books closed")]

    reopened = runner.invoke(main, ["close", "2024-01", "--reopen", "--reason", "audit adjustment"])
    assert reopened.exit_code == 0
    report = ingest_paths(ingest_env, [write_events("late2.jsonl", [_invoice("jan2", "2024-01-21")])])[0]
    assert report.posted == 1


def test_next_open_day_policy_posts_late_events_after_the_closed_months(ingest_env, ledger_db, write_events, monkeypatch):
    runner = CliRunner()
    assert runner.invoke(main, ["close", "2024-01"]).exit_code == 0
    assert runner.invoke(main, ["close", "2024-02"]).exit_code == 0
    monkeypatch.setenv("SUBLEDGER_CLOSED_PERIOD_POLICY", "next_open_day")
    report = ingest_paths(load_settings(), [write_events("late.jsonl", [_invoice("late-jan", "2024-01-20T12:00:00Z")])])[0]
    assert report.posted == 1 and report.quarantined == 0
    with psycopg.connect(ledger_db.dsn) as conn:
        effective_at, intended = conn.execute(
            "SELECT effective_at, metadata->>'intended_effective_at' FROM ledger.transactions WHERE idempotency_key = 'late-jan'"
        ).fetchone()
    assert effective_at.isoformat() == "2024-03-01T00:00:00+00:00"  # the first open instant after Jan+Feb
    assert intended.startswith("2024-01-20T12:00:00")
