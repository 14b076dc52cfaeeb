"""The hash chain makes the ledger's history tamper-evident (invariant I15, docs/security.md).

Every tampering here is done the way the issue's attacker did it: as the ledger's owner, with the
ledger's triggers disabled, in raw SQL. Each is caught by ``verify``, which names the first record
that no longer matches what was sealed. Sealing itself is checked against transactions that commit
out of xid order: nothing is skipped, nothing is sealed twice.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ledger_pipelines.ledger.chain import Checkpoint, SealBehind, head, reseal_history, seal, verify
from ledger_pipelines.postgres.migrate import migrate
from tests.ledger.helpers_sql import T0, attempt, connect, create_accounts, move_sql, post_raw, scalar, transaction_statements


def sealed(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        seal(conn)


def check(dsn: str, since: Checkpoint | None = None):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return verify(conn, since)


def tid(dsn: str, key: str) -> str:
    return str(scalar(dsn, "SELECT transaction_id FROM ledger.transactions WHERE idempotency_key = %s", [key]))


def as_owner(dsn: str, *statements) -> None:
    """Run ``statements`` as the owner with every user trigger of the ledger's tables disabled (and enabled after)."""
    tables = ("entries", "transactions", "audit_log", "balances", "chain")
    disable = [f"ALTER TABLE ledger.{t} DISABLE TRIGGER USER" for t in tables]
    enable = [f"ALTER TABLE ledger.{t} ENABLE TRIGGER USER" for t in tables]
    outcome = attempt(dsn, *disable, *statements, *enable)
    assert outcome.committed, outcome


@pytest.fixture
def history(ledger_db):
    """Three links of history: postings, a pending one moved later, audited actions."""
    create_accounts(ledger_db.dsn)
    post_raw(ledger_db.writer_dsn, "a")
    pending = post_raw(ledger_db.writer_dsn, "b", status="pending")
    sealed(ledger_db.writer_dsn)
    post_raw(ledger_db.writer_dsn, "c", effective_at=T0 + timedelta(days=1))
    assert attempt(ledger_db.writer_dsn, move_sql(pending, "posted", T0 + timedelta(days=2))).committed
    with connect(ledger_db.writer_dsn) as conn:
        conn.execute("INSERT INTO ledger.categories (code, kind) VALUES ('plan:pro', 'group')")  # an audit row
    sealed(ledger_db.writer_dsn)
    post_raw(ledger_db.writer_dsn, "d", effective_at=T0 + timedelta(days=3))
    sealed(ledger_db.writer_dsn)
    result = check(ledger_db.reader_dsn)
    assert result.passed, result.broken
    assert result.links_checked == 4 and result.records_checked >= 6  # genesis + three
    return ledger_db


def test_changing_an_amount_on_both_legs_and_the_cache_is_caught(history):
    b = tid(history.dsn, "b")
    as_owner(history.dsn,
             f"UPDATE ledger.entries SET amount = amount * 10 WHERE transaction_id = '{b}'",
             "UPDATE ledger.balances SET posted_debits = posted_debits + 900 WHERE currency = 'USD'")
    broken = check(history.reader_dsn).broken
    assert broken is not None and (broken.kind, broken.record_id, broken.idempotency_key) == ("transaction", b, "b")
    assert "changed after it was sealed" in broken.problem


def test_deleting_an_entry_is_caught(history):
    c = tid(history.dsn, "c")
    as_owner(history.dsn, f"DELETE FROM ledger.entries WHERE transaction_id = '{c}' AND entry_no = 1")
    broken = check(history.reader_dsn).broken
    assert broken is not None and (broken.record_id, broken.idempotency_key) == (c, "c")


def test_deleting_a_transaction_is_caught(history):
    c = tid(history.dsn, "c")
    as_owner(history.dsn, f"DELETE FROM ledger.entries WHERE transaction_id = '{c}'",
             f"DELETE FROM ledger.transactions WHERE transaction_id = '{c}'")
    broken = check(history.reader_dsn).broken
    assert broken is not None and broken.record_id == c and "gone" in broken.problem


def test_a_back_dated_transaction_inserted_into_sealed_history_is_caught(history):
    """Inserted with the system columns of a sealed transaction (its xid and created_at), so that
    it looks as if it had been recorded then."""
    a = tid(history.dsn, "a")
    forged, statements = transaction_statements("forged", effective_at=T0)
    as_owner(history.dsn, *statements,
             f"UPDATE ledger.transactions f SET created_xid = o.created_xid, changed_xid = o.changed_xid, created_at = o.created_at "
             f"FROM ledger.transactions o WHERE o.transaction_id = '{a}' AND f.transaction_id = '{forged}'")
    broken = check(history.reader_dsn).broken
    assert broken is not None and (broken.record_id, broken.idempotency_key) == (forged, "forged")
    assert "never sealed" in broken.problem


def test_reordering_two_transactions_is_caught(history):
    """a and d swap their place in history (xid and recording time): both still exist, unchanged."""
    a, d = tid(history.dsn, "a"), tid(history.dsn, "d")
    as_owner(history.dsn,
             "UPDATE ledger.transactions t SET created_xid = o.created_xid, changed_xid = o.changed_xid, created_at = o.created_at "
             f"FROM ledger.transactions o WHERE (t.transaction_id, o.transaction_id) IN (('{a}', '{d}'), ('{d}', '{a}'))")
    broken = check(history.reader_dsn).broken
    assert broken is not None and broken.link_no == 2 and broken.record_id in (a, d)


def test_editing_an_audit_row_is_caught(history):
    audit_id = str(scalar(history.dsn, "SELECT audit_id FROM ledger.audit_log WHERE action = 'category.created'"))
    as_owner(history.dsn, f"UPDATE ledger.audit_log SET actor = 'someone else' WHERE audit_id = '{audit_id}'")
    broken = check(history.reader_dsn).broken
    assert broken is not None and (broken.kind, broken.record_id) == ("audit row", audit_id)


def test_undoing_a_lifecycle_move_is_caught(history):
    b = tid(history.dsn, "b")
    as_owner(history.dsn, f"UPDATE ledger.transactions SET status = 'pending', posted_at = NULL, status_changed_at = NULL, "
                          f"transition_key = NULL, changed_xid = created_xid WHERE transaction_id = '{b}'")
    broken = check(history.reader_dsn).broken
    assert broken is not None and broken.record_id == b


def test_editing_a_stored_link_is_caught(history):
    as_owner(history.dsn, "UPDATE ledger.chain SET record_digests = sha256(record_digests) || substr(record_digests, 33) "
                          "WHERE link_no = 3")
    broken = check(history.reader_dsn).broken
    assert broken is not None and broken.link_no == 3 and broken.record_id is None and "edited" in broken.problem


def test_a_chain_rebuilt_over_rewritten_history_is_caught_by_the_checkpoint(history):
    """The owner rewrites history and the whole chain to match. The chain is consistent again; a
    head verified (or published) before no longer stands, so verify from it fails."""
    before = check(history.reader_dsn)
    checkpoint = Checkpoint(before.head.link_no, before.head.link_hash)
    b = tid(history.dsn, "b")
    as_owner(history.dsn, f"UPDATE ledger.entries SET amount = amount * 10 WHERE transaction_id = '{b}'",
             "DELETE FROM ledger.chain")
    sealed(history.writer_dsn)
    assert check(history.reader_dsn).passed  # a fresh chain over the forged rows: consistent
    result = check(history.reader_dsn, checkpoint)
    assert not result.passed and "rewritten at or before link 4" in result.broken.problem


def test_verify_from_a_checkpoint_checks_only_later_links_but_checks_the_checkpoint(history):
    first = check(history.reader_dsn)
    checkpoint = Checkpoint(first.head.link_no, first.head.link_hash)
    post_raw(history.writer_dsn, "e", effective_at=T0 + timedelta(days=4))
    sealed(history.writer_dsn)
    later = check(history.reader_dsn, checkpoint)
    assert later.passed and (later.first_link, later.links_checked) == (5, 1)
    e = tid(history.dsn, "e")
    as_owner(history.dsn, f"UPDATE ledger.entries SET amount = 1 WHERE transaction_id = '{e}'")
    assert check(history.reader_dsn, checkpoint).broken.record_id == e


def test_the_writer_cannot_write_the_chain(history):
    for statement in ("DELETE FROM ledger.chain", "UPDATE ledger.chain SET prev_hash = link_hash",
                      "INSERT INTO ledger.chain SELECT link_no + 100, upto_xid, upto_xid, sealed_at, 0, 0, 0, '{}', '', "
                      "link_hash, sha256(link_hash) FROM ledger.chain WHERE link_no = 4"):
        assert attempt(history.writer_dsn, statement).sqlstate == "42501", statement
    assert attempt(history.dsn, "DELETE FROM ledger.chain").sqlstate == "LDG02"  # the owner, triggers on


def test_rows_of_transactions_still_running_are_sealed_once_after_they_end(ledger_db):
    """A transaction that started first commits last: the seal in between takes neither it nor the
    later one that committed (their xids are not below the oldest running xid); the next seal takes both."""
    create_accounts(ledger_db.dsn)
    # the month's entries partition exists first: made inside `early`, it would keep the other
    # writer of that month waiting until `early` ends (a partition is made once, by one transaction)
    assert attempt(ledger_db.dsn, f"SELECT ledger.ensure_entry_partitions('{T0.isoformat()}', '{T0.isoformat()}')").committed
    sealed(ledger_db.writer_dsn)
    early = connect(ledger_db.writer_dsn)
    try:
        early.execute("BEGIN")
        first_id, statements = transaction_statements("started-first")
        for sql, params in statements:
            early.execute(sql, params)
        # other accounts than started-first's, whose account and balance rows it holds locked
        post_raw(ledger_db.writer_dsn, "committed-first",
                 legs=[("assets:yen_only", "debit", 100, "JPY"), ("liabilities:wallet", "credit", 100, "JPY")])
        sealed(ledger_db.writer_dsn)
        with connect(ledger_db.reader_dsn) as conn:
            assert head(conn).unsealed_transactions == 1  # committed-first waits for started-first
        early.execute("COMMIT")
    finally:
        early.close()
    sealed(ledger_db.writer_dsn)
    with connect(ledger_db.reader_dsn) as conn:
        ids = conn.execute("SELECT unnest(record_ids[1:transactions])::text FROM ledger.chain").fetchall()
        assert head(conn).unsealed_transactions == 0
    keys = [r[0] for r in ids]
    assert sorted(keys) == sorted([first_id, tid(ledger_db.dsn, "committed-first")])  # each exactly once
    assert check(ledger_db.reader_dsn).passed


def test_sealing_inside_a_transaction_leaves_its_own_rows_for_the_next_seal(ledger_db):
    create_accounts(ledger_db.dsn)
    with connect(ledger_db.writer_dsn) as conn, conn.transaction():
        _, statements = transaction_statements("own")
        for sql, params in statements:
            conn.execute(sql, params)
        conn.execute("SELECT ledger.seal_chain()")
    with connect(ledger_db.reader_dsn) as conn:
        assert head(conn).unsealed_transactions == 1
    sealed(ledger_db.writer_dsn)
    with connect(ledger_db.reader_dsn) as conn:
        assert head(conn).unsealed_transactions == 0 and head(conn).sealed_transactions == 1


def test_a_seal_beside_the_writer_seals_what_was_committed_and_raises_its_error_when_waited_for(ledger_db):
    create_accounts(ledger_db.dsn)
    post_raw(ledger_db.writer_dsn, "committed")
    behind = SealBehind(psycopg.connect(ledger_db.writer_dsn, autocommit=True))
    seconds: list[float] = []
    behind.after_commit(seconds.append)
    behind.close()  # waits for the seal
    assert len(seconds) == 1
    with connect(ledger_db.reader_dsn) as conn:
        assert head(conn).unsealed_transactions == 0 and head(conn).sealed_transactions == 1
    refused = SealBehind(psycopg.connect(ledger_db.reader_dsn, autocommit=True))  # the reader may not seal
    refused.after_commit()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        refused.close()


def test_records_do_not_depend_on_the_sessions_time_zone_or_encoding(history):
    """Records are binary: no time zone enters them, and text is always sent as UTF-8 (a LATIN1
    session could not even receive this key's characters)."""
    post_raw(history.writer_dsn, "e-\u20ac-\u043a\u043b\u044e\u0447", effective_at=T0 + timedelta(days=4))
    sealed(history.writer_dsn)
    with psycopg.connect(history.reader_dsn, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'Pacific/Chatham'")
        conn.execute("SET client_encoding TO 'LATIN1'")
        result = verify(conn)
        assert result.passed and result.records_checked >= 7


# --- record format 2, recomputed outside Postgres from docs/security.md ("Record format") -------------
TEXT, UUID, TIMESTAMPTZ, JSONB, XID8, INT4, INT8, BYTEA = 25, 2950, 1184, 3802, 5069, 23, 20, 17
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _value(type_oid: int, value) -> bytes:
    """One value in Postgres' binary send format, as the documented record format says."""
    if type_oid == TEXT:
        return value.encode("utf-8")
    if type_oid == UUID:
        return uuid.UUID(str(value)).bytes
    if type_oid == TIMESTAMPTZ:
        return struct.pack(">q", (value - PG_EPOCH) // timedelta(microseconds=1))
    if type_oid == JSONB:
        return b"\x01" + value.encode("utf-8")  # version 1, then the jsonb's text as Postgres prints it
    if type_oid == XID8:
        return struct.pack(">Q", int(value))
    if type_oid == INT4:
        return struct.pack(">i", value)
    if type_oid == INT8:
        return struct.pack(">q", value)
    assert type_oid == BYTEA
    return value


def _record(*columns: tuple[int, object]) -> bytes:
    """record_send: the column count, then per column its type oid, its length (-1: NULL) and its value."""
    out = struct.pack(">i", len(columns))
    for type_oid, value in columns:
        data = None if value is None else _value(type_oid, value)
        out += struct.pack(">Ii", type_oid, -1 if data is None else len(data)) + (data or b"")
    return out


def test_a_link_is_recomputed_outside_postgres_from_the_documented_format(history):
    """An external verifier needs only the rows and docs/security.md: transaction b (inserted
    pending, moved later) and its entries give the digest sealed for it, and the link's stored
    digests give its hash."""
    b = tid(history.dsn, "b")
    with psycopg.connect(history.reader_dsn) as conn:
        t = conn.execute(
            "SELECT transaction_id, idempotency_key, status, status_changed_at, effective_at, created_at, posted_at, "
            "reverses_transaction_id, reference, source_event_id, source_event_type, batch_id, content_hash, description, "
            "metadata::text, source::text, created_xid::text FROM ledger.transactions WHERE transaction_id = %s", [b]).fetchone()
        entries = conn.execute("SELECT entry_no, account_id, direction, amount, currency, effective_at FROM ledger.entries "
                               "WHERE transaction_id = %s ORDER BY entry_no", [b]).fetchall()
        link = conn.execute("SELECT link_no, from_xid::text, upto_xid::text, transactions, moves, audit_rows, record_ids, "
                            "record_digests, prev_hash, link_hash FROM ledger.chain WHERE %s = ANY (record_ids[1:transactions])",
                            [b]).fetchone()
    (tx_id, key, status, moved_at, effective_at, created_at, posted_at, reverses, reference, event_id, event_type,
     batch_id, content_hash, description, metadata, source, created_xid) = t
    assert moved_at is not None and status == "posted"  # sealed as inserted: pending, no posted_at
    legs = b"".join(_record((INT4, n), (UUID, account), (TEXT, direction), (INT8, amount), (TEXT, currency),
                            (TIMESTAMPTZ, at)) for n, account, direction, amount, currency, at in entries)
    record = _record((TEXT, "transaction"), (UUID, tx_id), (TEXT, key), (TEXT, "pending"), (TIMESTAMPTZ, effective_at),
                     (TIMESTAMPTZ, created_at), (TIMESTAMPTZ, None), (UUID, reverses), (TEXT, reference), (TEXT, event_id),
                     (TEXT, event_type), (UUID, batch_id), (TEXT, content_hash), (TEXT, description), (JSONB, metadata),
                     (JSONB, source), (XID8, created_xid), (BYTEA, legs))
    assert len(entries) == 2 and posted_at is not None
    link_no, from_xid, upto_xid, n_tx, n_moves, n_audit, ids, digests, prev_hash, link_hash = link
    position = [str(i) for i in ids].index(b)
    assert digests[32 * position:32 * (position + 1)] == hashlib.sha256(record).digest()
    header = json.dumps([link_no, from_xid, upto_xid, n_tx, n_moves, n_audit]).encode()
    assert link_hash == hashlib.sha256(prev_hash + header + digests).digest()


# --- migration 0009: a chain of an older record format is verified, then re-sealed into a new genesis link --
def _reseal(dsn: str) -> None:
    """What migration 0009 does, in one transaction as the owner, then migrate()'s seal."""
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT set_config('subledger.actor', 'subledger migrate', true)")
        assert reseal_history(conn)
        conn.execute("SELECT ledger.seal_chain()")


def test_the_upgrade_reseals_a_verified_chain_into_a_new_genesis_and_records_the_old_head(history):
    before = check(history.reader_dsn).head
    _reseal(history.dsn)
    sealed(history.writer_dsn)  # the upgrade's own audit rows
    with connect(history.reader_dsn) as conn:
        old = conn.execute("SELECT before FROM ledger.audit_log WHERE action = 'chain.resealed'").fetchone()[0]
        genesis = conn.execute("SELECT from_xid::text, transactions FROM ledger.chain WHERE link_no = 1").fetchone()
    assert (old["head_link_no"], old["head_link_hash"], old["links"]) == (before.link_no, before.link_hash, 4)
    assert genesis == ("0", before.sealed_transactions)  # every transaction sealed before, in one new link
    after = check(history.reader_dsn)
    assert after.passed and after.head.unsealed_transactions == 0
    from_old = check(history.reader_dsn, Checkpoint(before.link_no, before.link_hash))  # a new chain: not passed
    assert not from_old.passed and "an upgrade re-sealed the history" in from_old.broken.problem


def test_a_ledger_sealed_in_format_1_upgrades_to_a_verified_format_2_chain(ledger_db):
    """End to end through migrate(): a ledger as migration 0007 left it (the format-1 function
    installed, its links sealed with it, 0009 pending) is verified in format 1, then re-sealed."""
    format_1 = (Path(__file__).parent / "fixtures" / "chain_records_format_1.sql").read_text()
    assert attempt(ledger_db.dsn, format_1, "DELETE FROM _yoyo_migration WHERE migration_id = '0009_chain_record_format_2'",
                   "DELETE FROM _subledger_functions").committed
    create_accounts(ledger_db.dsn)
    post_raw(ledger_db.writer_dsn, "a")
    sealed(ledger_db.writer_dsn)
    post_raw(ledger_db.writer_dsn, "b", status="pending")
    sealed(ledger_db.writer_dsn)
    old = check(ledger_db.reader_dsn)
    assert old.passed and old.head.sealed_transactions == 2
    a = tid(ledger_db.dsn, "a")
    digest_of_a = ("SELECT substr(record_digests, 32 * (array_position(record_ids, %s::uuid) - 1) + 1, 32) "
                   "FROM ledger.chain WHERE %s::uuid = ANY (record_ids)")
    format_1_digest = scalar(ledger_db.dsn, digest_of_a, [a, a])

    assert migrate(ledger_db.dsn) == ["0009_chain_record_format_2"]
    resealed = scalar(ledger_db.dsn, "SELECT before FROM ledger.audit_log WHERE action = 'chain.resealed'")
    assert (resealed["head_link_no"], resealed["head_link_hash"]) == (old.head.link_no, old.head.link_hash)
    assert scalar(ledger_db.dsn, "SELECT link_no FROM ledger.chain WHERE %s::uuid = ANY (record_ids)", [a]) == 1
    assert scalar(ledger_db.dsn, digest_of_a, [a, a]) != format_1_digest  # sealed again, in format 2
    sealed(ledger_db.writer_dsn)
    new = check(ledger_db.reader_dsn)
    assert new.passed and new.head.sealed_transactions == 2 and new.head.unsealed_transactions == 0
    b = tid(ledger_db.dsn, "b")
    as_owner(ledger_db.dsn, f"UPDATE ledger.entries SET amount = 7 WHERE transaction_id = '{b}'")
    assert check(ledger_db.reader_dsn).broken.record_id == b  # and it still catches a change


def test_the_upgrade_refuses_to_reseal_a_chain_that_does_not_verify(history):
    b = tid(history.dsn, "b")
    as_owner(history.dsn, f"UPDATE ledger.entries SET amount = amount * 10 WHERE transaction_id = '{b}'")
    links = scalar(history.dsn, "SELECT count(*) FROM ledger.chain")
    with pytest.raises(RuntimeError, match=f"does not verify at link 2 .*{b}"):
        _reseal(history.dsn)
    assert scalar(history.dsn, "SELECT count(*) FROM ledger.chain") == links
    assert check(history.reader_dsn).broken.record_id == b  # still named
