"""Quarantine keeps what was refused; replay ingests the fixed versions and links them (audited).

Also the database-side reason codes, each produced by a real ingestion of events that break it.
"""

from __future__ import annotations

import json

import psycopg
from click.testing import CliRunner

from ledger_pipelines.cli import main
from ledger_pipelines.ingest.ingestor import ingest_paths, replay_file


def _event(event_id, event_type, effective_at="2024-03-01T09:00:00Z", **fields):
    event = {"event_id": event_id, "event_type": event_type, "effective_at": effective_at,
             "subscription_id": "sub_9", "customer_id": "cus_9", "amount": 500, "currency": "USD", "payload": {}}
    event.update(fields)
    return event


def _invoice(event_id, amount=500):
    return _event(event_id, "invoice.issued", amount=amount,
                  payload={"invoice_id": event_id, "plan_id": "basic", "period_start": "2024-03-01", "period_end": "2024-03-31"})


def _reasons(dsn):
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT event_id, reason_code FROM ingest.quarantine WHERE resolved_at IS NULL").fetchall())


def test_export_fix_and_replay_resolves_the_quarantine_with_an_audit_trail(ingest_env, ledger_db, write_events, tmp_path):
    path = write_events("day1.jsonl", [_invoice("inv-ok"), _invoice("inv-bad", amount="12.50"), _event("pay-early", "payment.settled",
                                                                                                       payload={"payment_id": "p1"})])
    ingest_paths(ingest_env, [path])
    assert _reasons(ledger_db.dsn) == {"inv-bad": "amount_not_integer", "pay-early": "unknown_target"}

    runner = CliRunner()
    listed = runner.invoke(main, ["quarantine", "--json"])
    assert listed.exit_code == 0
    assert {e["event_id"] for e in json.loads(listed.stdout)} == {"inv-bad", "pay-early"}

    export = tmp_path / "fix.jsonl"
    assert runner.invoke(main, ["quarantine", "--export", str(export)]).exit_code == 0
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert sorted(e["event_id"] for e in lines) == ["inv-bad", "pay-early"]
    # Fix: the amount in minor units; the payment the settlement needs arrives first.
    fixed = [dict(e, amount=1250) if e["event_id"] == "inv-bad" else e for e in lines]
    export.write_text("\n".join(json.dumps(e) for e in fixed) + "\n")
    payment = write_events("day2.jsonl", [_event("pay-init", "payment.initiated", payload={"payment_id": "p1", "invoice_id": "inv-ok"})])
    ingest_paths(ingest_env, [payment])

    report = replay_file(ingest_env, export)
    assert report.as_json() == {"events": 2, "posted": 2, "pending": 0, "duplicate": 0, "quarantined": 0}
    assert _reasons(ledger_db.dsn) == {}
    with psycopg.connect(ledger_db.dsn) as conn:
        resolved = conn.execute("SELECT event_id, resolution FROM ingest.quarantine ORDER BY event_id").fetchall()
        audit = conn.execute("SELECT before->>'event_id', after->>'resolution' FROM ledger.audit_log "
                             "WHERE action = 'event.replayed' ORDER BY 1").fetchall()
        status = conn.execute("SELECT status FROM ledger.transactions WHERE idempotency_key = 'pay-init'").fetchone()[0]
    assert resolved == [("inv-bad", "posted"), ("pay-early", "posted")]
    assert audit == [("inv-bad", "posted"), ("pay-early", "posted")]
    assert status == "posted"
    again = runner.invoke(main, ["replay", str(export)])
    assert again.exit_code == 0 and "replayed before" in again.stdout


def test_database_side_reason_codes(ingest_env, ledger_db, write_events):
    first = write_events("first.jsonl", [
        _invoice("inv-1"),
        _event("pay-1", "payment.initiated", payload={"payment_id": "pay_1", "invoice_id": "inv-1"}),
        _event("grant-1", "credit.granted", amount=100, payload={"credit_id": "cr1", "reason": "goodwill"}),
        _event("journal-1", "journal.posted", payload={"legs": [
            {"account": "assets:cash", "direction": "debit", "amount": 10, "currency": "USD"},
            {"account": "equity:capital", "direction": "credit", "amount": 10, "currency": "USD"}]}),
    ])
    ingest_paths(ingest_env, [first])
    with psycopg.connect(ledger_db.dsn) as conn:
        conn.execute("INSERT INTO ledger.period_closures (period, action, starts_at, ends_at, timezone) "
                     "VALUES ('2024-01', 'close', '2024-01-01T00:00Z', '2024-02-01T00:00Z', 'UTC')")
        cash_version = conn.execute("SELECT ledger.lock_version(account_id) FROM ledger.accounts WHERE code = 'assets:cash'").fetchone()[0]
    second = write_events("second.jsonl", [
        _event("apply-too-much", "credit.applied", amount=150, payload={"credit_id": "cr1", "invoice_id": "inv-1"}),
        _event("apply-ok", "credit.applied", amount=100, payload={"credit_id": "cr1", "invoice_id": "inv-1"}),
        _event("stale", "journal.posted", payload={"legs": [
            {"account": "assets:cash", "direction": "debit", "amount": 5, "currency": "USD", "lock_version": cash_version + 7},
            {"account": "equity:capital", "direction": "credit", "amount": 5, "currency": "USD"}]}),
        _event("fresh", "journal.posted", payload={"legs": [
            {"account": "assets:cash", "direction": "debit", "amount": 5, "currency": "USD", "lock_version": cash_version},
            {"account": "equity:capital", "direction": "credit", "amount": 5, "currency": "USD"}]}),
        _event("settle-1", "payment.settled", payload={"payment_id": "pay_1"}),
        _event("fail-1", "payment.failed", payload={"payment_id": "pay_1", "reason": "card_declined"}),
        _event("settle-unknown", "payment.settled", payload={"payment_id": "nope"}),
        _event("reverse-pending", "transaction.reversed", payload={"target_event_id": "grant-1-missing", "reason": "x"}),
        _invoice("inv-closed") | {"effective_at": "2024-01-15"},
        _invoice("inv-1", amount=501),
    ])
    report = ingest_paths(ingest_env, [second])[0]
    assert _reasons(ledger_db.dsn) == {
        "apply-too-much": "balance_condition_failed",
        "stale": "version_conflict",
        "fail-1": "invalid_transition",
        "settle-unknown": "unknown_target",
        "reverse-pending": "unknown_target",
        "inv-closed": "period_closed",
        "inv-1": "event_id_conflict",
    }
    assert report.posted == 3  # apply-ok, fresh, settle-1
