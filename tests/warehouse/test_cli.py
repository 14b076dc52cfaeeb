"""The command line on top of the warehouse: ``subledger balance/balances --as-of`` answer from the
anchors (and equal the full recomputation), ``subledger verify`` runs every check with exit codes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import psycopg
import pytest
from click.testing import CliRunner

from ledger_pipelines.accounting.money import format_amount
from ledger_pipelines.cli import main
from ledger_pipelines.ledger.balances import recomputed_balances
from ledger_pipelines.warehouse import freshness
from ledger_pipelines.warehouse.publish import publish
from ledger_pipelines.warehouse.store import open_work
from tests.warehouse.conftest import build
from tests.warehouse.ledgen import RandomLedger

START = date(2024, 3, 3)
LAST = date(2024, 3, 20)
ACCOUNT = "assets:cash:operating"
AS_OF = "2024-03-12T06:00:00+00:00"


@pytest.fixture
def cli_env(ledger_db, files, subledger_home, monkeypatch):
    monkeypatch.setenv("SUBLEDGER_DATABASE_URL", ledger_db.dsn)
    monkeypatch.setenv("SUBLEDGER_DUCKDB_PATH", str(files.published))
    monkeypatch.setenv("SUBLEDGER_TIMEZONE", "UTC")
    monkeypatch.setenv("SUBLEDGER_START_DATE", START.isoformat())
    gen = RandomLedger(ledger_db.writer_dsn, seed=61, days=20)
    gen.batch(60, moves=10, reversals=2)
    build(ledger_db, files.work, tz="UTC", start=START, last=LAST, anchor_every=4)  # anchors every 4 entries
    gen.batch(10, moves=5, lo_day=2, hi_day=10)  # backdated after the anchors were computed
    return ledger_db, files


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def as_documents(balances, key="account"):
    return sorted((b.as_dict(key)[key], b.currency, b.posted, b.pending, b.available) for b in balances)


def test_balance_as_of_answers_from_the_anchor_and_equals_the_recomputation(cli_env):
    db, _ = cli_env
    at = datetime.fromisoformat(AS_OF)
    with psycopg.connect(db.reader_dsn) as conn:
        want = as_documents(recomputed_balances(conn, [ACCOUNT], as_of=at))
        want_all = as_documents(recomputed_balances(conn, None, as_of=at))
    one = run("balance", ACCOUNT, "--as-of", AS_OF, "--json")
    assert one.exit_code == 0, one.output
    docs = json.loads(one.output)
    docs = docs if isinstance(docs, list) else [docs]
    assert sorted((d["account"], d["currency"], d["posted"], d["pending"], d["available"]) for d in docs) == want
    every = run("balances", "--as-of", AS_OF)
    assert every.exit_code == 0, every.output
    assert sorted((d["account"], d["currency"], d["posted"], d["pending"], d["available"]) for d in json.loads(every.output)) == want_all

    # The human line of a past instant has no cache version to show (and never prints "None").
    human = run("balance", ACCOUNT, "--as-of", AS_OF)
    assert human.exit_code == 0, human.output
    assert "None" not in human.output and "version" not in human.output
    posted, pending = (format_amount(docs[0][k], docs[0]["currency"]) for k in ("posted", "pending"))  # major units
    assert f"posted {posted}, pending {pending}" in human.output and "as of 2024-03-12T06:00:00" in human.output

    # Proof that the answer comes from the anchor: skew the anchor the answer starts from (as the
    # owner; anchors are a cache) and the command's answer moves by exactly that amount.
    with psycopg.connect(db.dsn) as conn:
        skewed = conn.execute(
            "UPDATE ledger.balance_anchors SET posted_debits = posted_debits + 1000 "
            "WHERE (account_id, currency, anchor_at) = (SELECT account_id, currency, max(anchor_at) FROM ledger.balance_anchors "
            "  WHERE account_id = ledger.account_id_of(%s) AND anchor_at <= %s GROUP BY 1, 2 ORDER BY 2 LIMIT 1) "
            "RETURNING currency", [ACCOUNT, at],
        ).fetchall()
    assert len(skewed) == 1
    moved = run("balance", ACCOUNT, "--as-of", AS_OF, "--currency", skewed[0][0], "--json")
    posted_before = {(a, c): p for a, c, p, _, _ in want}[(ACCOUNT, skewed[0][0])]
    assert json.loads(moved.output)["posted"] == posted_before + 1000  # debit-normal account


def test_verify_passes_on_good_data_and_fails_with_exit_1_on_drift(cli_env):
    db, files = cli_env
    missing = run("verify", "--json")  # not published yet while the ledger holds transactions: never a vacuous pass
    assert missing.exit_code == 1, missing.output
    report = json.loads(missing.output[: missing.output.rindex("}") + 1])
    assert "note" in report and [c["check"] for c in report["checks"] if not c["passed"]] == ["warehouse_fresh"]
    assert "not built yet" in report["checks"][-1]["offending"][0]["reason"]

    build(db, files.work, tz="UTC", start=START, last=datetime.now(UTC).date())  # the backdated batch restated
    with open_work(files.work) as conn:  # what the dbt asset records before it publishes (no dbt here)
        freshness.record_reports_build(conn, run_id="reports-of-this-test")
    publish(files.work, files.published)
    good = run("verify", "--json")
    assert good.exit_code == 0, good.output
    report = json.loads(good.output)
    assert report["passed"] and len(report["checks"]) == 11 and all(c["passed"] for c in report["checks"])

    with psycopg.connect(db.dsn) as conn:  # the owner edits a cached balance
        conn.execute("UPDATE ledger.balances SET pending_debits = pending_debits + 5 "
                     "WHERE account_id = ledger.account_id_of(%s) AND currency = 'USD'", [ACCOUNT])
    bad = run("verify", "--json")
    assert bad.exit_code == 1
    report = json.loads(bad.output[: bad.output.rindex("}") + 1])
    [failed] = [c for c in report["checks"] if not c["passed"]]
    assert failed["check"] == "cache_drift" and failed["runbook"]
    assert [(r["account"], r["diff_pending_debits"]) for r in failed["offending"]] == [(ACCOUNT, 5)]
    text = run("verify")
    assert text.exit_code == 1 and "FAIL cache_drift" in text.output


def test_known_at_is_bitemporal_through_the_command_line(cli_env):
    db, _ = cli_env
    with psycopg.connect(db.reader_dsn) as conn:
        first_batch_end = conn.execute("SELECT min(created_at) FROM ledger.transactions").fetchone()[0]
        known = first_batch_end.astimezone(UTC).isoformat()
        want = as_documents(recomputed_balances(conn, None, as_of=datetime.fromisoformat(AS_OF), known_at=first_batch_end))
        later = as_documents(recomputed_balances(conn, None, as_of=datetime.fromisoformat(AS_OF)))
    got = run("balances", "--as-of", AS_OF, "--known-at", known)
    assert got.exit_code == 0, got.output
    assert sorted((d["account"], d["currency"], d["posted"], d["pending"], d["available"]) for d in json.loads(got.output)) == want
    assert want != later  # the backdated batch is not known yet at that time
