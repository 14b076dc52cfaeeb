"""CLI error paths that need a real server: ``--as-of 9999-12-31`` answers, bad credentials are one message.

Uses the session's embedded cluster (tests/conftest.py) as an *external* server through
``SUBLEDGER_DATABASE_URL``, so no extra cluster is started.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from ledger_pipelines.cli import main
from ledger_pipelines.ledger.model import Leg, NewTransaction
from ledger_pipelines.ledger.posting import Ledger
from ledger_pipelines.postgres.database import connect

FAR_FUTURE_ENTRY = datetime(2999, 6, 1, tzinfo=UTC)


def invoke(tmp_path, url, *args):
    env = {"SUBLEDGER_HOME": str(tmp_path / "home"), "SUBLEDGER_DATABASE_URL": url, "SUBLEDGER_TIMEZONE": None,
           "SUBLEDGER_LOG_FORMAT": None}
    return CliRunner(env=env).invoke(main, list(args))


@pytest.fixture
def seeded(ledger_db):
    ledger = Ledger(connect(ledger_db.writer_dsn), actor="cli-errors-test")
    ledger.post(NewTransaction("fund", (Leg("assets:cash", "debit", 700, "USD"), Leg("equity:capital", "credit", 700, "USD")),
                               datetime(2024, 1, 10, tzinfo=UTC)))
    ledger.post(NewTransaction("future", (Leg("assets:cash", "debit", 5, "USD"), Leg("equity:capital", "credit", 5, "USD")),
                               FAR_FUTURE_ENTRY))
    ledger.conn.close()
    return ledger_db, 705  # the far-future entry counts: it is effective before the end of 9999-12-31


def test_as_of_end_of_9999_12_31_is_a_valid_answer(tmp_path, seeded):
    db, expected = seeded
    result = invoke(tmp_path, db.dsn, "balance", "assets:cash", "--as-of", "9999-12-31", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["posted"] == expected
    assert datetime.fromisoformat(doc["as_of"]) == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

    result = invoke(tmp_path, db.dsn, "balances", "--as-of", "9999-12-31", "--known-at", "9999-12-31")
    assert result.exit_code == 0, result.output
    rows = {(r["account"], r["currency"]): r["posted"] for r in json.loads(result.stdout)}
    assert rows[("assets:cash", "USD")] == expected

    result = invoke(tmp_path, db.dsn, "balances", "--as-of", "9999-12-31", "--category", "assets")
    assert result.exit_code == 0, result.output
    rows = {(r["category"], r["currency"]): r["posted"] for r in json.loads(result.stdout)}
    assert rows[("assets", "USD")] == expected


def test_wrong_password_is_one_message_without_the_password(tmp_path, ledger_db):
    bad = re.sub(r"^(postgresql://[^:]+:)[^@]*@", r"\1WrongPw123x@", ledger_db.dsn)
    assert "WrongPw123x" in bad
    result = invoke(tmp_path, bad, "balance", "assets:cash", "--json")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert "could not log in to the ledger database at 127.0.0.1:" in result.stderr
    assert "password authentication failed" in result.stderr
    assert "WrongPw123x" not in result.stderr and "Traceback" not in result.stderr
