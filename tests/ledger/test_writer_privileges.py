"""A hostile writer (raw SQL with the writer role's credentials, issues 20 and 21) reaches the
ancillary tables only through functions that check what it claims (docs/security.md, W1-W6).
Each of these statements succeeded before."""

from __future__ import annotations

import uuid

import pytest

from ledger_pipelines.paths import read_sql
from tests.ledger.helpers_sql import attempt, connect, create_accounts, post_raw, scalar

PERMISSION_DENIED = "42501"


def claim_sql(batch_id: str) -> tuple[str, dict]:
    return (read_sql("ingest/claim_batch.sql"), {"batch_id": batch_id, "source_kind": "file", "source_name": "x.jsonl",
                                                 "content_hash": batch_id, "bytes": 1, "outbox_xmin": None,
                                                 "outbox_xmax": None})


def quarantine_sql(batch_id: str, event_id: str) -> tuple[str, dict]:
    return ("INSERT INTO ingest.quarantine (batch_id, seq, event_id, reason_code, message, raw, source_name) "
            "VALUES (%(b)s, 0, %(e)s, 'missing_field', 'no amount', '\\x7b7d', 'x.jsonl')", {"b": batch_id, "e": event_id})


@pytest.fixture
def quarantined(ledger_db):
    """A finished batch that quarantined one event."""
    batch = str(uuid.uuid4())
    assert attempt(ledger_db.writer_dsn, claim_sql(batch), quarantine_sql(batch, "evt-1"),
                   ("UPDATE ingest.batches SET events = 1, quarantined = 1 WHERE batch_id = %s", [batch])).committed
    return ledger_db, batch


def test_the_writer_cannot_write_the_audit_log(ledger_db):
    forged = ("INSERT INTO ledger.audit_log (action, target_type, target_id, actor) "
              "VALUES ('period.close', 'period', '2024-01', 'subledger_writer')")
    assert attempt(ledger_db.writer_dsn, forged).sqlstate == PERMISSION_DENIED
    assert attempt(ledger_db.writer_dsn, "INSERT INTO ledger.audit_log (action, target_type, target_id) "
                                         "VALUES ('period.close', 'period', '2024-01')").sqlstate == PERMISSION_DENIED


@pytest.mark.parametrize("statement, sqlstate", [
    ("UPDATE ingest.batches SET quarantined = 0, posted = 1", "LDG03"),  # hide its quarantine count
    ("UPDATE ingest.batches SET content_hash = 'forgotten'", PERMISSION_DENIED),  # make it ingestible again
    ("UPDATE ingest.batches SET claimed_xid = pg_current_xact_id()", PERMISSION_DENIED),
    ("DELETE FROM ingest.batches", PERMISSION_DENIED),
])
def test_a_finished_batch_cannot_be_changed_by_the_writer(quarantined, statement, sqlstate):
    db, batch = quarantined
    before = scalar(db.dsn, "SELECT to_jsonb(b) FROM ingest.batches b WHERE batch_id = %s", [batch])
    assert attempt(db.writer_dsn, statement).sqlstate == sqlstate
    assert scalar(db.dsn, "SELECT to_jsonb(b) FROM ingest.batches b WHERE batch_id = %s", [batch]) == before


def test_quarantine_entries_are_resolved_only_by_a_replay(quarantined):
    db, old_batch = quarantined
    create_accounts(db.dsn)
    old_tid = post_raw(db.writer_dsn, "earlier")
    # directly: no grant
    assert attempt(db.writer_dsn, "UPDATE ingest.quarantine SET resolved_at = now(), resolution = 'posted'").sqlstate == \
        PERMISSION_DENIED
    resolve = read_sql("ingest/resolve_quarantine.sql")
    claims = {
        # from a batch this transaction did not claim
        "old batch": [(resolve, {"batch_id": old_batch, "event_ids": ["evt-1"], "outcomes": ["posted"], "transaction_ids": [old_tid]})],
        # a new batch that posted nothing: 'posted' names an old transaction, 'duplicate' was not recorded
        "posted": [claim_sql(new := str(uuid.uuid4())),
                   (resolve, {"batch_id": new, "event_ids": ["evt-1"], "outcomes": ["posted"], "transaction_ids": [old_tid]})],
        "duplicate": [claim_sql(new2 := str(uuid.uuid4())),
                      (resolve, {"batch_id": new2, "event_ids": ["evt-1"], "outcomes": ["duplicate"], "transaction_ids": [old_tid]})],
    }
    for name, statements in claims.items():
        assert attempt(db.writer_dsn, *statements).sqlstate == PERMISSION_DENIED, name
    assert scalar(db.dsn, "SELECT count(*) FROM ingest.quarantine WHERE resolved_at IS NULL") == 1
    # a batch that recorded the event as a duplicate does resolve it, and the database audits it
    replay = str(uuid.uuid4())
    assert attempt(db.writer_dsn, claim_sql(replay),
                   ("INSERT INTO ingest.event_outcomes (batch_id, seq, event_id, outcome, transaction_id) "
                    "VALUES (%s, 0, 'evt-1', 'duplicate', %s)", [replay, old_tid]),
                   ("UPDATE ingest.batches SET events = 1, duplicate = 1 WHERE batch_id = %s", [replay]),
                   (resolve, {"batch_id": replay, "event_ids": ["evt-1"], "outcomes": ["duplicate"],
                              "transaction_ids": [old_tid]})).committed
    assert scalar(db.dsn, "SELECT resolution FROM ingest.quarantine WHERE event_id = 'evt-1'") == "duplicate"
    assert scalar(db.dsn, "SELECT db_user FROM ledger.audit_log WHERE action = 'event.replayed'") == "subledger_writer"


def test_a_correction_is_recorded_only_for_a_reversal_made_in_the_same_transaction(ledger_db):
    create_accounts(ledger_db.dsn)
    original = post_raw(ledger_db.writer_dsn, "original")
    other = post_raw(ledger_db.writer_dsn, "other")
    forged = ("SELECT ledger.record_corrections(%s::uuid[], %s::uuid[])", [[original], [other]])
    assert attempt(ledger_db.writer_dsn, forged).sqlstate == PERMISSION_DENIED
    assert scalar(ledger_db.dsn, "SELECT count(*) FROM ledger.audit_log WHERE action = 'transaction.corrected'") == 0


@pytest.mark.parametrize("currency", ["usd", "XXXX", "U$D", "", "EUR' OR '1"])
def test_balance_rows_exist_only_in_currencies_an_entry_can_have(ledger_db, currency):
    create_accounts(ledger_db.dsn)
    with connect(ledger_db.writer_dsn) as conn:
        rows = conn.execute("SELECT * FROM ledger.lock_balances(ARRAY[ledger.account_id_of('assets:cash')], ARRAY[%s])",
                            [currency]).fetchall()
    assert rows == [] and scalar(ledger_db.dsn, "SELECT count(*) FROM ledger.balances") == 0
    assert attempt(ledger_db.dsn, ("INSERT INTO ledger.balances (account_id, currency) "
                                   "VALUES (ledger.account_id_of('assets:cash'), %s)", [currency])).sqlstate == "23514"


@pytest.mark.parametrize("statement", [
    "CREATE TABLE public.dropbox (x int)",
    "CREATE TABLE ledger.shadow (x int)",
    "CREATE TABLE ingest.shadow (x int)",
    "CREATE FUNCTION ledger.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE SCHEMA mine",
])
def test_the_writer_creates_nothing_that_outlives_its_session(ledger_db, statement):
    assert attempt(ledger_db.writer_dsn, statement).sqlstate == PERMISSION_DENIED
    assert attempt(ledger_db.writer_dsn, "CREATE TEMP TABLE staging (x int)").committed  # what the bulk path needs


def test_no_security_definer_function_is_executable_by_public(ledger_db):
    """A SECURITY DEFINER function runs with the owner's rights, so who may call it is granted role
    by role in its own file, after revoking the EXECUTE that a new function gives PUBLIC; else any
    role that can connect could run it. (Invoker functions give a caller nothing it could not do.)"""
    with connect(ledger_db.dsn) as conn:
        definers, public = conn.execute("""
        SELECT count(*), coalesce(array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text) FILTER (
                   WHERE EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                                  WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')), '{}')
          FROM pg_proc p
         WHERE p.prosecdef
           AND p.pronamespace IN ('ledger'::regnamespace, 'ledger_partitions'::regnamespace, 'ingest'::regnamespace)
        """).fetchone()
    assert definers >= 10  # post_transaction, post_many, move_ and reverse_transaction, the triggers' ...
    assert public == [], public
