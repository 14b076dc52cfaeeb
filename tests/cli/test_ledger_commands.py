"""Ledger commands for people: balances as a table in major units, close/reopen with a reason,
quarantine filtered by reason, `up` without passwords on the terminal; usage errors exit 2."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from ledger_pipelines.cli.common import output_format
from ledger_pipelines.config import url_password
from ledger_pipelines.ingest.ingestor import ingest_paths
from ledger_pipelines.ledger.model import Leg, NewTransaction
from ledger_pipelines.ledger.posting import Ledger
from ledger_pipelines.postgres.database import connect
from tests.cli.conftest import run_cli


@pytest.fixture
def seeded(ledger_db):
    ledger = Ledger(connect(ledger_db.writer_dsn), actor="cli-test")
    at = datetime(2024, 1, 10, 12, tzinfo=UTC)
    ledger.post(NewTransaction("fund", (Leg("assets:cash", "debit", 123456789, "USD"),
                                        Leg("equity:capital", "credit", 123456789, "USD")), at))
    ledger.post(NewTransaction("yen", (Leg("assets:cash", "debit", 5000, "JPY"), Leg("equity:capital", "credit", 5000, "JPY")), at))
    ledger.post(NewTransaction("fils", (Leg("assets:cash", "debit", 12345, "KWD"), Leg("equity:capital", "credit", 12345, "KWD")), at))
    ledger.post(NewTransaction("pay", (Leg("assets:in_transit", "debit", 300, "USD"), Leg("assets:cash", "credit", 300, "USD")),
                               at, status="pending"))
    ledger.conn.close()
    return ledger_db


def test_balances_table_is_in_major_units_without_versions(home: Path, seeded) -> None:
    result = run_cli(home, "balances", "--format", "table", database_url=seeded.dsn)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Account", "Currency", "Posted", "Pending", "Available"]
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in lines[2:] if line and not line.startswith("As of")}
    assert rows[("assets:cash", "USD")] == ["1,234,567.89", "1,234,564.89", "1,234,564.89"]
    assert rows[("assets:cash", "JPY")] == ["5,000", "5,000", "5,000"]
    assert rows[("assets:cash", "KWD")] == ["12.345", "12.345", "12.345"]
    assert rows[("equity:capital", "USD")] == ["1,234,567.89"] * 3
    assert "version" not in result.stdout.lower() and "major units" in lines[-1]

    categories = run_cli(home, "balances", "--category", "assets", "--format", "table", database_url=seeded.dsn)
    assert categories.stdout.splitlines()[0].split()[0] == "Category"

    # scripts keep their integers: JSON when the output is not a terminal, and on request
    as_json = json.loads(run_cli(home, "balances", database_url=seeded.dsn).stdout)
    usd = next(d for d in as_json if d["account"] == "assets:cash" and d["currency"] == "USD")
    assert usd["posted"] == 123456789 and isinstance(usd["version"], int) and isinstance(usd["lock_version"], int)


def test_the_default_format_is_a_table_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal:
        def isatty(self) -> bool:
            return True

    assert output_format("csv") == "csv"
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert output_format(None) == "table"
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # a pipe or a file
    assert output_format(None) == "json"


def test_balance_for_a_person_shows_major_units_and_no_lock_versions(home: Path, seeded) -> None:
    result = run_cli(home, "balance", "assets:cash", "--currency", "USD", database_url=seeded.dsn)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("assets:cash USD: posted 1,234,567.89, pending 1,234,564.89, available 1,234,564.89 (as of ")
    assert "version" not in result.stdout and "minor units" not in result.stdout
    doc = json.loads(run_cli(home, "balance", "assets:cash", "--currency", "USD", "--json", database_url=seeded.dsn).stdout)
    assert doc["posted"] == 123456789 and "lock_version" in doc


def _audit(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT action, target_id, reason FROM ledger.audit_log WHERE target_type = 'period' "
                            "ORDER BY at").fetchall()


def test_close_and_reopen_keep_their_reason_in_the_audit_log(home: Path, ledger_db) -> None:
    closed = run_cli(home, "close", "2024-01", "--reason", "January signed off", database_url=ledger_db.dsn)
    assert closed.exit_code == 0, closed.stderr
    assert closed.stdout.startswith("2024-01 closed (") and "reason: January signed off" in closed.stdout
    refused = run_cli(home, "close", "2024-01", "--reopen", database_url=ledger_db.dsn)
    assert refused.exit_code == 2 and "needs --reason" in refused.stderr
    reopened = run_cli(home, "close", "2024-01", "--reopen", "--reason", "late supplier invoice", "--json",
                       database_url=ledger_db.dsn)
    assert reopened.exit_code == 0, reopened.stderr
    assert json.loads(reopened.stdout)["reason"] == "late supplier invoice"
    assert _audit(ledger_db.dsn) == [("period.close", "2024-01", "January signed off"),
                                     ("period.reopen", "2024-01", "late supplier invoice")]


@pytest.mark.parametrize(("args", "fragment"), [
    (["close", "2024-13"], "'2024-13' is not a month"),
    (["close", "March"], "write it as YYYY-MM"),
    (["close", "2024-03", "--reopen"], "needs --reason"),
    (["close", "2024-03", "--reopen", "--reason", "  "], "needs --reason"),
    (["close"], "give the month to close"),
    (["quarantine", "--reason", "amount_not_integr"], "'amount_not_integr' is not a reason code"),
    (["quarantine", "--reason", "nope", "--export", "x.jsonl"], "amount_not_integer"),
])
def test_usage_errors_exit_2_before_touching_the_database(home: Path, args, fragment) -> None:
    # no database is configured or running: a usage error must be found first
    result = run_cli(home, *args, database_url="postgresql://nobody:secret@127.0.0.1:1/none")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert fragment in result.stderr and result.stdout == ""


def test_quarantine_reason_filters_the_listing_and_the_export(home: Path, ledger_db, tmp_path: Path) -> None:
    def event(event_id, amount):
        return {"event_id": event_id, "event_type": "invoice.issued", "effective_at": "2024-03-01T09:00:00Z",
                "subscription_id": "sub_9", "customer_id": "cus_9", "amount": amount, "currency": "USD",
                "payload": {"invoice_id": event_id, "plan_id": "basic", "period_start": "2024-03-01", "period_end": "2024-03-31"}}

    landing = tmp_path / "events.jsonl"
    landing.write_text("\n".join([json.dumps(event("ok", 500)), json.dumps(event("frac", "12.5")),
                                  json.dumps({**event("usd", 500), "currency": "usd"}), "{broken"]) + "\n")
    from ledger_pipelines.config import load_settings

    ingest_paths(load_settings({"SUBLEDGER_HOME": str(home), "SUBLEDGER_DATABASE_URL": ledger_db.dsn}), [landing])
    everything = json.loads(run_cli(home, "quarantine", "--json", database_url=ledger_db.dsn).stdout)
    assert sorted(e["reason_code"] for e in everything) == ["amount_not_integer", "malformed_json", "unknown_currency"]

    only = run_cli(home, "quarantine", "--reason", "unknown_currency", "--json", database_url=ledger_db.dsn)
    assert [e["event_id"] for e in json.loads(only.stdout)] == ["usd"]
    text = run_cli(home, "quarantine", "--reason", "amount_not_integer", database_url=ledger_db.dsn)
    assert text.exit_code == 0 and "[amount_not_integer] frac" in text.stdout and "usd" not in text.stdout
    none = run_cli(home, "quarantine", "--reason", "unbalanced", database_url=ledger_db.dsn)
    assert none.exit_code == 0 and none.stdout == "No quarantined events with reason unbalanced.\n"

    export = tmp_path / "fix.jsonl"
    written = run_cli(home, "quarantine", "--reason", "unknown_currency", "--export", str(export), database_url=ledger_db.dsn)
    assert written.exit_code == 0 and "wrote 1 quarantined events with reason unknown_currency" in written.stdout
    assert [json.loads(line)["event_id"] for line in export.read_text().splitlines()] == ["usd"]


def test_up_masks_passwords_for_people_and_json_keeps_them_for_scripts(home: Path, ledger_db) -> None:
    password = url_password(ledger_db.dsn)
    assert password
    shown = run_cli(home, "up", database_url=ledger_db.dsn)
    assert shown.exit_code == 0, shown.stderr
    assert password not in shown.stdout and shown.stdout.count(":***@") == 3
    assert "`subledger up --json` prints the full connection strings" in shown.stdout
    document = json.loads(run_cli(home, "up", "--json", database_url=ledger_db.dsn).stdout)
    assert url_password(document["dsn"]) == password
