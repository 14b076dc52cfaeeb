"""Owner and DDL actions are audited (docs/security.md, I16): the event triggers of
sql/schema/superuser/ddl_audit.sql record every DDL command and dropped object in the audit log,
with the session's real user, and the ledger's owner cannot switch them off."""

from __future__ import annotations

import psycopg
import pytest

from ledger_pipelines.postgres.migrate import install_ddl_audit, migrate
from ledger_pipelines.warehouse.checks import guards_enabled
from tests.ledger.helpers_sql import attempt, connect, scalar


def ddl_rows(dsn: str) -> list[tuple[str, str, str, str, str]]:
    """(action, target_type, target_id, db_user, statement) of the DDL records, oldest first."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT action, target_type, target_id, db_user, after->>'statement' FROM ledger.audit_log "
            "WHERE action IN ('schema.ddl', 'schema.dropped') ORDER BY at, audit_id").fetchall()


@pytest.mark.parametrize("statement, action, target", [
    ("ALTER TABLE ledger.entries DISABLE TRIGGER entries_are_immutable", "schema.ddl", "ledger.entries"),
    ("ALTER TABLE ledger.audit_log DISABLE TRIGGER USER", "schema.ddl", "ledger.audit_log"),
    ("CREATE OR REPLACE FUNCTION ledger.reject_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
     "schema.ddl", "ledger.reject_change()"),
    ("ALTER FUNCTION ledger.seal_chain() SECURITY INVOKER", "schema.ddl", "ledger.seal_chain()"),
    ("DROP TRIGGER transactions_lifecycle_only ON ledger.transactions", "schema.dropped",
     "transactions_lifecycle_only on ledger.transactions"),
    ("GRANT UPDATE ON ledger.entries TO subledger_writer", "schema.ddl", "GRANT"),
    ("REVOKE SELECT ON ledger.chain FROM subledger_reader", "schema.ddl", "REVOKE"),
    ("CREATE TABLE ledger.shadow (x int)", "schema.ddl", "ledger.shadow"),
])
def test_the_owners_ddl_is_recorded_with_who_did_it(ledger_db, statement, action, target):
    with connect(ledger_db.dsn) as conn:
        conn.execute("SET subledger.actor = 'cli:mallory'")
        conn.execute(statement)
    [(got_action, _, got_target, db_user, text)] = ddl_rows(ledger_db.dsn)
    assert (got_action, got_target, db_user, text) == (action, target, "subledger_owner", statement)


def test_dropping_a_table_is_recorded(ledger_db):
    with connect(ledger_db.dsn) as conn:
        conn.execute("CREATE TABLE ledger.shadow (x int)")
        conn.execute("DROP TABLE ledger.shadow")
    assert [(a, t) for a, _, t, *_ in ddl_rows(ledger_db.dsn)] == [("schema.ddl", "ledger.shadow"),
                                                                  ("schema.dropped", "ledger.shadow")]


def test_the_writers_temporary_tables_are_not_recorded(ledger_db):
    with connect(ledger_db.writer_dsn) as conn:
        conn.execute("CREATE TEMP TABLE staging (x int)")
        conn.execute("DROP TABLE staging")
    assert ddl_rows(ledger_db.dsn) == []


def test_the_owner_cannot_switch_the_ddl_audit_off(ledger_db):
    for statement in ("ALTER EVENT TRIGGER subledger_audit_ddl DISABLE", "DROP EVENT TRIGGER subledger_audit_drop",
                      "DROP FUNCTION subledger_audit.record_ddl() CASCADE",
                      "CREATE OR REPLACE FUNCTION subledger_audit.record_ddl() RETURNS event_trigger LANGUAGE plpgsql "
                      "AS $$ BEGIN END $$",
                      "DROP SCHEMA subledger_audit CASCADE"):
        assert attempt(ledger_db.dsn, statement).sqlstate == "42501", statement
    assert scalar(ledger_db.dsn, "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'subledger_audit_%' "
                                 "AND evtenabled = 'O'") == 2


def test_covering_tracks_leaves_a_record(ledger_db):
    """The owner disables the audit log's guard, deletes the record of doing so and enables it again, in
    one transaction: the record of enabling it stays (and the guard cannot be left off unnoticed:
    verify's ledger_guards check)."""
    outcome = attempt(ledger_db.dsn,
                      "ALTER TABLE ledger.audit_log DISABLE TRIGGER audit_log_is_immutable",
                      "DELETE FROM ledger.audit_log WHERE action LIKE 'schema.%'",
                      "ALTER TABLE ledger.audit_log ENABLE TRIGGER audit_log_is_immutable")
    assert outcome.committed
    assert [text for *_, text in ddl_rows(ledger_db.dsn)] == [
        "ALTER TABLE ledger.audit_log ENABLE TRIGGER audit_log_is_immutable"]


def test_role_changes_are_not_ddl_events(ledger_db):
    """What event triggers cannot see (docs/security.md lists it): ALTER ROLE is a cluster-wide command."""
    with connect(ledger_db.superuser_dsn) as conn:
        conn.execute("ALTER ROLE subledger_reader CONNECTION LIMIT 50")
        conn.execute("ALTER ROLE subledger_reader CONNECTION LIMIT -1")
    assert ddl_rows(ledger_db.dsn) == []


def test_a_migration_is_recorded_as_schema_migrated(ledger_db):
    with connect(ledger_db.dsn) as conn:
        conn.execute("DELETE FROM _subledger_functions")  # the function files are applied again
    assert migrate(ledger_db.dsn) == []
    with psycopg.connect(ledger_db.dsn) as conn:
        summary = conn.execute("SELECT actor, after FROM ledger.audit_log WHERE action = 'schema.migrated'").fetchall()
        reasons = conn.execute("SELECT DISTINCT actor, reason FROM ledger.audit_log WHERE action = 'schema.ddl'").fetchall()
    assert summary == [("subledger migrate", {"migrations": [], "functions": True})]
    assert reasons == [("subledger migrate", "schema.migrated")]
    assert len(ddl_rows(ledger_db.dsn)) > 30  # one per function and trigger


def test_verify_fails_while_a_guard_is_off(ledger_db):
    assert guards_enabled(ledger_db.reader_dsn).passed
    with connect(ledger_db.dsn) as conn:
        conn.execute("ALTER TABLE ledger.entries DISABLE TRIGGER entries_are_immutable")
    with connect(ledger_db.superuser_dsn) as conn:
        conn.execute("ALTER EVENT TRIGGER subledger_audit_drop DISABLE")
    result = guards_enabled(ledger_db.reader_dsn)
    assert not result.passed
    assert sorted(result.offending.select("guard", "state").rows()) == [
        ("ledger.entries: entries_are_immutable", "disabled"), ("subledger_audit_drop", "disabled")]


def test_installing_the_ddl_audit_again_records_nothing(ledger_db):
    """`subledger up` and every command install it: once it is there, doing so again is a no-op."""
    assert install_ddl_audit(ledger_db.superuser_dsn) is False
    assert ddl_rows(ledger_db.dsn) == []
    with connect(ledger_db.superuser_dsn) as conn:
        conn.execute("ALTER EVENT TRIGGER subledger_audit_drop DISABLE")
    assert install_ddl_audit(ledger_db.superuser_dsn) is True  # a disabled one is installed again
    assert scalar(ledger_db.dsn, "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'subledger_audit_%' "
                                 "AND evtenabled = 'O'") == 2
