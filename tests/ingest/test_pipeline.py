"""Files in, ledger out: every event accounted for exactly once, on generated data and by hand."""

from __future__ import annotations

from collections import Counter

import psycopg
import pytest
from click.testing import CliRunner

from ledger_pipelines.cli import main
from ledger_pipelines.generate import generate
from ledger_pipelines.ingest.ingestor import ingest_paths
from tests.ingest.conftest import assert_consistent, ledger_snapshot


def _event(event_id, event_type="invoice.issued", **extra):
    event = {
        "event_id": event_id, "event_type": event_type, "effective_at": "2024-02-01T10:00:00Z",
        "subscription_id": "sub_1", "customer_id": "cus_1", "amount": 1200, "currency": "USD",
        "payload": {"invoice_id": f"inv_{event_id}", "plan_id": "pro", "period_start": "2024-02-01", "period_end": "2024-02-29"},
    }
    event.update(extra)
    return event


def test_generated_data_every_event_has_one_outcome_and_bad_ones_are_quarantined(ingest_env, ledger_db):
    result = generate(ingest_env.landing_dir, subscriptions=40, months=4, seed=11)
    reports = ingest_paths(ingest_env, [ingest_env.landing_dir])

    assert len(reports) == len(result.files) == 4
    assert sum(r.events for r in reports) == result.events
    for report in reports:
        assert report.events == report.posted + report.pending + report.duplicate + report.quarantined
    with psycopg.connect(ledger_db.dsn) as conn:
        quarantined = conn.execute("SELECT event_id, reason_code FROM ingest.quarantine").fetchall()
        stored = conn.execute("SELECT sum(events), sum(posted + pending + duplicate + quarantined) FROM ingest.batches").fetchone()
    # Exactly the deliberately bad events, each with the reason the generator planted it for.
    assert Counter(code for _, code in quarantined) == Counter(b["reason_code"] for b in result.bad)
    expected_ids = {(b["event_id"], b["reason_code"]) for b in result.bad if b["event_id"]}
    assert expected_ids <= set(quarantined)
    assert stored[0] == stored[1] == result.events
    assert_consistent(ledger_db.dsn)


def test_the_same_files_again_change_nothing(ingest_env, ledger_db):
    generate(ingest_env.landing_dir, subscriptions=15, months=2, seed=3)
    first = ingest_paths(ingest_env, [ingest_env.landing_dir])
    before = ledger_snapshot(ledger_db.dsn)
    again = ingest_paths(ingest_env, [ingest_env.landing_dir])
    assert all(r.skipped for r in again) and not any(r.skipped for r in first)
    assert [r.batch_id for r in again] == [r.batch_id for r in first]
    assert ledger_snapshot(ledger_db.dsn) == before


def test_duplicates_and_conflicts_across_files(ingest_env, ledger_db, write_events):
    a = write_events("a.jsonl", [_event("e1"), _event("e2")])
    b = write_events("b.jsonl", [_event("e1"), _event("e2", amount=999), _event("e3")])
    reports = ingest_paths(ingest_env, [a, b])
    assert reports[0].as_json() == {"events": 2, "posted": 2, "pending": 0, "duplicate": 0, "quarantined": 0}
    assert reports[1].as_json() == {"events": 3, "posted": 1, "pending": 0, "duplicate": 1, "quarantined": 1}
    assert reports[1].reasons == {"event_id_conflict": 1}
    with psycopg.connect(ledger_db.dsn) as conn:
        amount = conn.execute(
            "SELECT e.amount FROM ledger.entries e JOIN ledger.transactions t USING (transaction_id) "
            "WHERE t.idempotency_key = 'e2' AND e.direction = 'debit'"
        ).fetchone()[0]
        outcome = conn.execute("SELECT outcome, transaction_id IS NOT NULL FROM ingest.events WHERE event_id = 'e1' "
                               "ORDER BY outcome").fetchall()
    assert amount == 1200  # the first one stands
    assert outcome == [("duplicate", True), ("posted", True)]


def test_a_bad_event_never_blocks_the_good_ones(ingest_env, ledger_db, write_events):
    events = [_event("ok1"), "{not json", _event("float", amount=10.5), _event("ok2"), b'{"event_id": "nul\\u0000"}']
    path = write_events("mixed.jsonl", events)
    report = ingest_paths(ingest_env, [path])[0]
    assert report.as_json() == {"events": 5, "posted": 2, "pending": 0, "duplicate": 0, "quarantined": 3}
    with psycopg.connect(ledger_db.dsn) as conn:
        rows = conn.execute("SELECT line_no, reason_code, raw FROM ingest.quarantine ORDER BY line_no").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(2, "malformed_json"), (3, "amount_not_integer"), (5, "control_characters")]
    assert bytes(rows[0][2]) == b"{not json"  # raw bytes kept for replay


def test_an_unreadable_file_is_quarantined_whole_and_the_rest_goes_on(ingest_env, ledger_db, write_events):
    broken = ingest_env.landing_dir / "broken.jsonl.gz"
    broken.write_bytes(b"this is not gzip")
    good = write_events("good.jsonl", [_event("g1")])
    reports = ingest_paths(ingest_env, [ingest_env.landing_dir])
    by_name = {r.source_name.rsplit("/", 1)[-1]: r for r in reports}
    assert by_name["broken.jsonl.gz"].quarantined == 1 and by_name["broken.jsonl.gz"].reasons == {"unreadable_file": 1}
    assert by_name[good.name].posted == 1


def test_a_misnamed_file_renamed_as_the_message_says_is_ingested(ingest_env, ledger_db, write_events):
    """'rename it to .jsonl' must work: the claim of an unreadable file includes the format its name chose."""
    misnamed = write_events("events.jsonl.gz", [_event("r1"), _event("r2")])  # plain JSON lines named .gz
    first = ingest_paths(ingest_env, [misnamed])[0]
    assert first.reasons == {"unreadable_file": 1} and first.posted == 0
    again = ingest_paths(ingest_env, [misnamed])[0]
    assert again.skipped and again.batch_id == first.batch_id  # the same file as it was: a no-op
    renamed = misnamed.rename(misnamed.with_name("events.jsonl"))
    fixed = ingest_paths(ingest_env, [renamed])[0]
    assert not fixed.skipped and fixed.posted == 2
    assert ingest_paths(ingest_env, [renamed])[0].skipped
    with psycopg.connect(ledger_db.dsn) as conn:
        posted = conn.execute("SELECT count(*) FROM ledger.transactions WHERE source_event_id IN ('r1', 'r2')").fetchone()[0]
    assert posted == 2


def test_an_account_type_the_rules_file_adds_can_be_posted_to(ingest_env, ledger_db, write_events, tmp_path):
    """docs/posting-rules.md: new account types go under account_types in the rules file."""
    import dataclasses

    from ledger_pipelines.accounting.errors import InvalidTransaction
    from ledger_pipelines.ledger.balances import balance

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\naccount_types:\n  contra: debit\n  reserves: credit\nevent_types: {}\n")
    settings = dataclasses.replace(ingest_env, rules_path=rules)
    legs = [{"account": "contra:returns", "direction": "debit", "amount": 40, "currency": "USD"},
            {"account": "reserves:returns", "direction": "credit", "amount": 40, "currency": "USD"}]
    journal = {"event_id": "t1", "event_type": "journal.posted", "effective_at": "2024-01-05T00:00:00Z", "payload": {"legs": legs}}
    report = ingest_paths(settings, [write_events("types.jsonl", [journal])])[0]
    assert report.posted == 1, report.reasons
    with psycopg.connect(ledger_db.reader_dsn) as conn:
        contra, reserves = balance(conn, "contra:returns", "USD"), balance(conn, "reserves:returns", "USD")
    assert (contra.normal_balance, contra.posted) == ("debit", 40)
    assert (reserves.normal_balance, reserves.posted) == ("credit", 40)

    # a rules file may not flip the normal balance of a type the ledger already signs by
    rules.write_text("version: 1\naccount_types:\n  contra: credit\nevent_types: {}\n")
    with pytest.raises(InvalidTransaction, match="'contra' is debit-normal"):
        ingest_paths(settings, [write_events("more.jsonl", [dict(journal, event_id="t2")])])
    runner = CliRunner(env={"SUBLEDGER_RULES_PATH": str(rules)})
    flipped = runner.invoke(main, ["ingest", str(ingest_env.landing_dir / "more.jsonl"), "--json"])
    assert flipped.exit_code == 1 and "contra" in flipped.stderr and "Traceback" not in flipped.output
    rules.write_text("version: 1\nevent_types:\n  x.y: {action: nope}\n")
    broken = runner.invoke(main, ["ingest", str(ingest_env.landing_dir / "more.jsonl"), "--json"])
    assert broken.exit_code == 2 and "the posting rules are invalid" in broken.stderr and "unknown action 'nope'" in broken.stderr
    assert broken.stdout == ""


def test_cli_ingest_json_and_exit_codes(ingest_env, write_events):
    good = write_events("good.jsonl", [_event("c1"), _event("c2")])
    runner = CliRunner()
    ok = runner.invoke(main, ["ingest", str(good), "--json"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip() == '{"events": 2, "posted": 2, "pending": 0, "duplicate": 0, "quarantined": 0}'
    bad = write_events("bad.jsonl", [_event("c3", currency="usd")])
    rejected = runner.invoke(main, ["ingest", str(bad), "--json"])
    assert rejected.exit_code == 1
    assert '"quarantined": 1' in rejected.stdout
    # the same files again: a no-op whose events are this run's duplicates (scripts adding up
    # the counts of runs never count an event twice), and nothing was quarantined by this run
    again = runner.invoke(main, ["ingest", str(good), str(bad), "--json"])
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == '{"events": 3, "posted": 0, "pending": 0, "duplicate": 3, "quarantined": 0}'
    human = runner.invoke(main, ["ingest", str(good)])
    assert "already ingested, skipped" in human.stdout


def test_each_batch_logs_one_line_carrying_its_batch_id(ingest_env, write_events):
    import logging

    from ledger_pipelines.logging import install_secret_scrubber

    install_secret_scrubber()  # the record factory that attaches the bound context (as the CLI and code location do)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.INFO)
    logger = logging.getLogger("ledger_pipelines.ingest")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        path = write_events("logged.jsonl", [_event("evt_log_1"), _event("evt_log_2")])
        first = ingest_paths(ingest_env, [path])[0]
        again = ingest_paths(ingest_env, [path])[0]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    lines = [r for r in records if r.getMessage().startswith("batch ")]
    assert [r.subledger_context["batch_id"] for r in lines] == [first.batch_id, first.batch_id]
    assert all(r.subledger_context["source"].endswith("logged.jsonl") for r in lines)
    assert '"posted": 2' in lines[0].getMessage() and "already ingested" in lines[1].getMessage()
    assert again.skipped and again.batch_id == first.batch_id
