"""`subledger verify` and the Dagster check `ledger_chain_intact` catch history rewritten by the owner
(invariant I15): they name the transaction, keep a checkpoint to start from next time, and
`--export-head` prints the head to publish."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg
import psycopg
import pytest
from click.testing import CliRunner

from ledger_pipelines.cli import main
from ledger_pipelines.config import load_settings
from ledger_pipelines.defs.warehouse.assets import MIRROR_KEY, WAREHOUSE_ASSETS
from ledger_pipelines.defs.warehouse.checks import WAREHOUSE_CHECKS
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse, LedgerPostgres
from ledger_pipelines.ledger.chain import Checkpoint, ledger_identity, seal
from tests.warehouse.conftest import build
from tests.warehouse.ledgen import RandomLedger

START, LAST = date(2024, 3, 3), date(2024, 3, 20)


@pytest.fixture
def sealed_ledger(ledger_db, files, subledger_home, monkeypatch):
    monkeypatch.setenv("SUBLEDGER_DATABASE_URL", ledger_db.dsn)
    monkeypatch.setenv("SUBLEDGER_DUCKDB_PATH", str(files.published))
    monkeypatch.setenv("SUBLEDGER_TIMEZONE", "UTC")
    monkeypatch.setenv("SUBLEDGER_START_DATE", START.isoformat())
    RandomLedger(ledger_db.writer_dsn, seed=7, days=20).batch(40, moves=6, reversals=1)
    build(ledger_db, files.work, tz="UTC", start=START, last=LAST)  # seals
    return ledger_db, files


def forge_amount(dsn: str) -> tuple[str, str]:
    """As the owner, triggers disabled: both legs of one posted transaction say ten times more."""
    with psycopg.connect(dsn) as conn:
        tid, key = conn.execute("SELECT transaction_id::text, idempotency_key FROM ledger.transactions "
                                "WHERE status = 'posted' ORDER BY created_xid, transaction_id LIMIT 1 OFFSET 5").fetchone()
        conn.execute("ALTER TABLE ledger.entries DISABLE TRIGGER USER")
        conn.execute("UPDATE ledger.entries SET amount = amount * 10 WHERE transaction_id = %s", [tid])
        conn.execute("ALTER TABLE ledger.entries ENABLE TRIGGER USER")
    return tid, key


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_verify_names_the_forged_transaction_and_keeps_a_checkpoint(sealed_ledger):
    db, _ = sealed_ledger
    checkpoint = load_settings().chain_checkpoint_path
    with psycopg.connect(db.reader_dsn) as conn:
        ledger = ledger_identity(conn)
    first = run("verify", "--json")
    report = {c["check"]: c for c in json.loads(first.stdout)["checks"]}
    assert report["ledger_chain"]["passed"] and report["ledger_chain"]["checked_rows"] > 40
    stored = Checkpoint.read(checkpoint, ledger)
    assert stored is not None and stored.link_hash == report["ledger_chain"]["notes"]["head_hash"]
    assert oct(checkpoint.stat().st_mode & 0o777) == "0o600"

    tid, key = forge_amount(db.dsn)
    # incremental: the forged transaction is in a link verified already, so only --full recomputes it
    assert json.loads(run("verify", "--json").stdout)["checks"][0]["passed"]
    stored = Checkpoint.read(checkpoint, ledger)  # moved on: the DDL audit's rows of the forgery were sealed since
    full = run("verify", "--full")
    assert full.exit_code == 1
    assert "FAIL ledger_chain" in full.output and tid in full.output and key in full.output
    assert Checkpoint.read(checkpoint, ledger) == stored  # a failed verify does not move the checkpoint
    with psycopg.connect(db.reader_dsn) as conn:  # and the audit log says who switched the guard off
        assert conn.execute("SELECT db_user FROM ledger.audit_log WHERE action = 'schema.ddl' "
                            "AND after->>'statement' LIKE '%%DISABLE TRIGGER%%'").fetchall() == [("subledger_owner",)]


def test_export_head_prints_the_head_and_refuses_a_broken_chain(sealed_ledger):
    db, _ = sealed_ledger
    printed = run("verify", "--export-head")
    assert printed.exit_code == 0, printed.output
    head = json.loads(printed.stdout)
    with psycopg.connect(db.reader_dsn) as conn:
        assert head["link_hash"] == conn.execute(
            "SELECT encode(link_hash, 'hex') FROM ledger.chain ORDER BY link_no DESC LIMIT 1").fetchone()[0]
    assert head["unsealed_transactions"] == 0 and head["sealed_transactions"] >= 40
    tid, _ = forge_amount(db.dsn)
    refused = CliRunner().invoke(main, ["verify", "--export-head", "--full"])
    assert refused.exit_code == 1 and tid in refused.output


def test_the_dagster_check_catches_the_forged_transaction(sealed_ledger, monkeypatch):
    db, files = sealed_ledger
    resources = {
        "duckdb_warehouse": DuckDBWarehouse(work_path=str(files.work), published_path=str(files.published)),
        "ledger_postgres": LedgerPostgres(dsn=db.dsn, reader_dsn=db.reader_dsn, writer_dsn=db.writer_dsn),
    }
    tid, key = forge_amount(db.dsn)
    with psycopg.connect(db.writer_dsn, autocommit=True) as conn:
        seal(conn)  # sealing again does not paper over it: sealed links are never redone
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([*WAREHOUSE_ASSETS, *WAREHOUSE_CHECKS], resources=resources, instance=instance,
                                selection=[MIRROR_KEY], raise_on_error=False)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "ledger_chain_intact"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    shown = str(evaluation.metadata["offending (first rows)"].value)
    assert tid in shown and key in shown
