"""Every database guarantee of the ledger, tried through raw SQL as each role (owner, writer, reader).

No Python API is involved: each test connects with one role's credentials and sends SQL, as any
client could. SQLSTATEs: 42501 = insufficient privilege, 23505 = unique violation, 23514 = check
violation, LDG01..LDG09 = the ledger's own guards (sql/schema/functions/, docs/invariants.md).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, timedelta

import psycopg
import pytest

from tests.ledger.helpers_sql import (
    T0,
    USD_100,
    attempt,
    cached,
    connect,
    create_accounts,
    insert_entry_sql,
    insert_transaction_sql,
    move_sql,
    post_raw,
    recomputed,
    scalar,
    transaction_statements,
)

PERMISSION_DENIED = "42501"


@pytest.fixture(params=["monthly", "monthly_by_4_hashes"])
def db(request, ledger_db):
    """Every guard test runs on both layouts of the entries: monthly partitions, and each month split
    into 4 hash partitions by transaction_id (docs/scale-out.md, step 2's local equivalent)."""
    if request.param == "monthly_by_4_hashes":
        assert attempt(ledger_db.dsn, "UPDATE ledger.entry_partitioning SET hash_partitions = 4").committed
    create_accounts(ledger_db.writer_dsn)
    return ledger_db


def dsn_of(db, role: str) -> str:
    return {"owner": db.dsn, "writer": db.writer_dsn, "reader": db.reader_dsn, "superuser": db.superuser_dsn}[role]


def entry_count(db) -> int:
    return scalar(db.dsn, "SELECT count(*) FROM ledger.entries")


# ---------------------------------------------------------------------------------------------
# I2: entries are immutable for every role
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "role, expected",
    [("writer", PERMISSION_DENIED), ("reader", PERMISSION_DENIED), ("owner", "LDG02"), ("superuser", "LDG02")],
)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger.entries SET amount = amount + 1",
        "UPDATE ledger.entries SET direction = 'credit' WHERE direction = 'debit'",
        "DELETE FROM ledger.entries",
        "TRUNCATE ledger.entries",
    ],
)
def test_entries_cannot_be_updated_deleted_or_truncated(db, role, expected, statement):
    post_raw(db.writer_dsn, "t1")
    before = scalar(db.dsn, "SELECT array_agg((entry_no, direction, amount)::text ORDER BY entry_no) FROM ledger.entries")
    outcome = attempt(dsn_of(db, role), statement)
    assert outcome.sqlstate == expected, outcome
    assert scalar(db.dsn, "SELECT array_agg((entry_no, direction, amount)::text ORDER BY entry_no) FROM ledger.entries") == before


def test_owner_refusal_of_entry_changes_explains_what_to_do(db):
    post_raw(db.writer_dsn, "t1")
    with connect(db.dsn) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute("DELETE FROM ledger.entries")
    assert caught.value.sqlstate == "LDG02"
    assert "append-only" in caught.value.diag.message_primary
    assert "reverse" in caught.value.diag.message_hint.lower()


# ---------------------------------------------------------------------------------------------
# I3: posted and archived transactions never change; I4: the only moves
# ---------------------------------------------------------------------------------------------
def _finished(db, status: str) -> str:
    if status == "posted":
        return post_raw(db.writer_dsn, "done")
    tid = post_raw(db.writer_dsn, "done", status="pending")
    assert attempt(db.writer_dsn, move_sql(tid, "archived")).committed
    return tid


@pytest.mark.parametrize("status", ["posted", "archived"])
@pytest.mark.parametrize(
    "role, column_sql, expected",
    [
        ("owner", "description = 'rewritten'", "LDG03"),
        ("owner", "effective_at = effective_at + interval '1 day'", "LDG03"),
        ("owner", "idempotency_key = 'other'", "LDG03"),
        ("owner", "metadata = '{\"x\": \"y\"}'", "LDG03"),
        ("superuser", "description = 'rewritten'", "LDG03"),
        ("writer", "description = 'rewritten'", PERMISSION_DENIED),  # no column grant
        ("writer", "effective_at = now()", PERMISSION_DENIED),
        ("writer", "transition_key = 'sneaky'", "LDG03"),  # granted column, refused by the trigger
        ("reader", "transition_key = 'sneaky'", PERMISSION_DENIED),
    ],
)
def test_a_finished_transaction_never_changes(db, status, role, column_sql, expected):
    tid = _finished(db, status)
    before = scalar(db.dsn, "SELECT to_jsonb(t) FROM ledger.transactions t WHERE transaction_id = %s", [tid])
    outcome = attempt(dsn_of(db, role), (f"UPDATE ledger.transactions SET {column_sql} WHERE transaction_id = %s", [tid]))
    assert outcome.sqlstate == expected, outcome
    assert scalar(db.dsn, "SELECT to_jsonb(t) FROM ledger.transactions t WHERE transaction_id = %s", [tid]) == before


@pytest.mark.parametrize("role, expected", [("owner", "LDG03"), ("writer", PERMISSION_DENIED), ("superuser", "LDG03")])
@pytest.mark.parametrize("statement", ["DELETE FROM ledger.transactions", "TRUNCATE ledger.transactions"])
def test_transactions_cannot_be_deleted(db, role, expected, statement):
    post_raw(db.writer_dsn, "t1")
    outcome = attempt(dsn_of(db, role), statement)
    assert outcome.sqlstate == expected, outcome
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.transactions") == 1


@pytest.mark.parametrize(
    "start, to, expected",
    [
        ("pending", "posted", None),
        ("pending", "archived", None),
        ("pending", "pending", "LDG04"),
        ("posted", "archived", "LDG04"),
        ("posted", "pending", "LDG04"),
        ("archived", "posted", "LDG04"),
        ("archived", "pending", "LDG04"),
    ],
)
@pytest.mark.parametrize("role", ["writer", "owner"])
def test_only_pending_to_posted_or_archived(db, start, to, expected, role):
    if start == "pending":
        tid = post_raw(db.writer_dsn, "t", status="pending")
    else:
        tid = _finished(db, start)
    statement = (
        "UPDATE ledger.transactions SET status = 'pending', posted_at = NULL, archived_at = NULL WHERE transaction_id = %s", [tid]
    ) if to == "pending" else move_sql(tid, to, T0 + timedelta(days=1))
    outcome = attempt(dsn_of(db, role), statement)
    assert outcome.sqlstate == expected, outcome
    status = scalar(db.dsn, "SELECT status FROM ledger.transactions WHERE transaction_id = %s", [tid])
    assert status == (to if expected is None else start)


@pytest.mark.parametrize("to", ["posted", "archived"])
@pytest.mark.parametrize("role", ["writer", "owner"])
def test_a_move_is_never_dated_before_the_transactions_effective_at(db, to, role):
    """Issue 20: a pending transaction of 2024 moved with posted_at 1999 was accepted (I4, LDG04)."""
    tid = post_raw(db.writer_dsn, "p", status="pending")
    before = scalar(db.dsn, "SELECT to_jsonb(t) FROM ledger.transactions t WHERE transaction_id = %s", [tid])
    outcome = attempt(dsn_of(db, role), move_sql(tid, to, T0 - timedelta(days=365 * 25)))
    assert outcome.sqlstate == "LDG04" and "before its effective_at" in outcome.message, outcome
    assert scalar(db.dsn, "SELECT to_jsonb(t) FROM ledger.transactions t WHERE transaction_id = %s", [tid]) == before
    assert attempt(dsn_of(db, role), move_sql(tid, to, T0 - timedelta(microseconds=1))).sqlstate == "LDG04"
    assert attempt(dsn_of(db, role), move_sql(tid, to, T0)).committed  # at its effective time: fine


def test_a_lifecycle_move_carries_the_cache_and_is_audited(db):
    tid = post_raw(db.writer_dsn, "p", legs=[("assets:cash", "debit", 70, "USD"), ("equity:capital", "credit", 70, "USD")],
                   status="pending")
    assert cached(db.dsn, "assets:cash")[:4] == (0, 0, 70, 0)
    outcome = attempt(db.writer_dsn, "SELECT set_config('subledger.actor', 'ops:ana', true), set_config('subledger.reason', 'settled', true)",
                      move_sql(tid, "posted", T0 + timedelta(days=2)))
    assert outcome.committed, outcome
    assert cached(db.dsn, "assets:cash")[:4] == (70, 0, 0, 0) == recomputed(db.dsn, "assets:cash")
    assert cached(db.dsn, "equity:capital", "USD")[:4] == (0, 70, 0, 0)
    audit = scalar(db.dsn, "SELECT array_agg((action, actor, reason)::text) FROM ledger.audit_log WHERE target_id = %s", [tid])
    assert audit == ["(transaction.posted,ops:ana,settled)"]


@pytest.mark.parametrize(
    "column_sql",
    [
        "description = 'x'",
        "metadata = metadata || '{\"x\": 1}'",
        "source = '{\"amount\": 1}'",
        "effective_at = effective_at + interval '1 microsecond'",
        "idempotency_key = idempotency_key || 'x'",
        "reference = 'payment:other'",
        "created_at = created_at - interval '1 day'",
        "batch_id = gen_random_uuid()",
        "transaction_id = gen_random_uuid()",
    ],
)
def test_a_move_may_not_change_other_columns_at_the_same_time(db, column_sql):
    tid = post_raw(db.writer_dsn, "p", status="pending")
    before = scalar(db.dsn, "SELECT to_jsonb(t) FROM ledger.transactions t WHERE transaction_id = %s", [tid])
    outcome = attempt(db.dsn, (f"UPDATE ledger.transactions SET status = 'posted', posted_at = now(), {column_sql} "
                               "WHERE transaction_id = %s", [tid]))
    assert outcome.sqlstate == "LDG03", outcome
    assert scalar(db.dsn, "SELECT to_jsonb(t) FROM ledger.transactions t WHERE transaction_id = %s", [tid]) == before


def test_a_move_may_restate_other_columns_with_their_own_values(db):
    tid = post_raw(db.writer_dsn, "p", status="pending")
    outcome = attempt(db.dsn, ("UPDATE ledger.transactions SET status = 'posted', posted_at = now(), description = description, "
                               "metadata = metadata, effective_at = effective_at WHERE transaction_id = %s", [tid]))
    assert outcome.committed, outcome
    assert scalar(db.dsn, "SELECT status FROM ledger.transactions WHERE transaction_id = %s", [tid]) == "posted"


def test_a_transaction_is_never_inserted_as_archived(db):
    tid, statements = transaction_statements("arch", status="pending")
    as_archived_by_owner = (
        "INSERT INTO ledger.transactions (transaction_id, idempotency_key, status, effective_at, archived_at) "
        "VALUES (%s, 'arch', 'archived', %s, %s)", [tid, T0, T0],
    )
    assert attempt(db.dsn, as_archived_by_owner, *statements[1:]).sqlstate == "LDG04"
    # The writer may not even name archived_at on insert; without it the row breaks the status check.
    assert attempt(db.writer_dsn, as_archived_by_owner, *statements[1:]).sqlstate == PERMISSION_DENIED
    without_date = ("INSERT INTO ledger.transactions (transaction_id, idempotency_key, status, effective_at) "
                    "VALUES (%s, 'arch', 'archived', %s)", [tid, T0])
    assert attempt(db.writer_dsn, without_date, *statements[1:]).sqlstate == "23514"
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.transactions") == 0


# ---------------------------------------------------------------------------------------------
# I1: double entry, checked at commit
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["writer", "owner"])
@pytest.mark.parametrize(
    "legs",
    [
        [("assets:cash", "debit", 100, "USD"), ("equity:capital", "credit", 90, "USD")],
        [("assets:cash", "debit", 100, "USD")],
        # balanced in USD, not in EUR
        [("assets:cash", "debit", 100, "USD"), ("equity:capital", "credit", 100, "USD"),
         ("assets:cash", "debit", 5, "EUR"), ("equity:capital", "credit", 4, "EUR")],
        # amounts balance overall but not per currency
        [("assets:cash", "debit", 100, "USD"), ("equity:capital", "credit", 100, "EUR")],
    ],
)
def test_an_unbalanced_insert_fails_at_commit(db, role, legs):
    _, statements = transaction_statements("unbalanced", legs)
    outcome = attempt(dsn_of(db, role), *statements)
    assert (outcome.sqlstate, outcome.at) == ("LDG01", "commit"), outcome
    assert "does not balance" in outcome.message
    assert entry_count(db) == 0
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.balances WHERE version > 0") == 0


def test_legs_split_over_several_statements_of_one_transaction_pass(db):
    tid = str(uuid.uuid4())
    legs = [("assets:cash", "debit", 60, "USD"), ("assets:cash", "debit", 40, "USD"), ("equity:capital", "credit", 100, "USD"),
            ("assets:cash", "debit", 7, "EUR"), ("equity:capital", "credit", 7, "EUR")]
    outcome = attempt(
        db.writer_dsn,
        insert_transaction_sql(tid, "split"),
        *[insert_entry_sql(tid, n, *leg) for n, leg in enumerate(legs)],
    )
    assert outcome.committed, outcome
    assert cached(db.dsn, "assets:cash")[:4] == (100, 0, 0, 0) == recomputed(db.dsn, "assets:cash")
    assert cached(db.dsn, "assets:cash", "EUR")[:4] == (7, 0, 0, 0)


def test_several_transactions_in_one_statement_are_checked_each(db):
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    outcome = attempt(
        db.writer_dsn,
        insert_transaction_sql(a, "a"), insert_transaction_sql(b, "b"),
        # a debit of a and a credit of b: the statement as a whole balances, neither transaction does
        ("INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at) VALUES "
         "(%(a)s, 0, ledger.account_id_of('assets:cash'), 'debit', 10, 'USD', %(t)s), "
         "(%(b)s, 0, ledger.account_id_of('equity:capital'), 'credit', 10, 'USD', %(t)s)", {"a": a, "b": b, "t": T0}),
    )
    assert (outcome.sqlstate, outcome.at) == ("LDG01", "commit")


def test_the_commit_check_cannot_be_dodged_with_set_constraints(db):
    """SET CONSTRAINTS ... IMMEDIATE runs the deferred check early; entries added after it are still checked."""
    tid = str(uuid.uuid4())
    outcome = attempt(
        db.writer_dsn,
        insert_transaction_sql(tid, "dodge"),
        insert_entry_sql(tid, 0, "assets:cash", "debit", 100, "USD"),
        insert_entry_sql(tid, 1, "equity:capital", "credit", 100, "USD"),
        "SET CONSTRAINTS ALL IMMEDIATE",  # the check runs here and passes
        insert_entry_sql(tid, 2, "assets:cash", "debit", 555, "USD"),  # then one more, unbalanced leg
    )
    assert outcome.sqlstate == "LDG01", outcome
    assert entry_count(db) == 0

    # Immediate from the start: a transaction cannot exist for a moment without entries either.
    _, statements = transaction_statements("immediate")
    outcome = attempt(db.writer_dsn, "SET CONSTRAINTS ALL IMMEDIATE", *statements)
    assert outcome.sqlstate == "LDG07", outcome

    # Deferred again after an immediate check: the late leg is caught at COMMIT.
    tid = str(uuid.uuid4())
    outcome = attempt(
        db.writer_dsn,
        insert_transaction_sql(tid, "dodge2"),
        insert_entry_sql(tid, 0, "assets:cash", "debit", 100, "USD"),
        insert_entry_sql(tid, 1, "equity:capital", "credit", 100, "USD"),
        "SET CONSTRAINTS ALL IMMEDIATE",
        "SET CONSTRAINTS ALL DEFERRED",
        insert_entry_sql(tid, 2, "equity:capital", "credit", 1, "USD"),
    )
    assert (outcome.sqlstate, outcome.at) == ("LDG01", "commit"), outcome
    assert entry_count(db) == 0


def test_a_transaction_without_entries_fails_at_commit(db):
    for role in ("writer", "owner"):
        outcome = attempt(dsn_of(db, role), insert_transaction_sql(str(uuid.uuid4()), f"empty-{role}"))
        assert (outcome.sqlstate, outcome.at) == ("LDG07", "commit"), outcome
    # one empty transaction among full ones is still caught
    _, full = transaction_statements("full")
    outcome = attempt(db.writer_dsn, *full, insert_transaction_sql(str(uuid.uuid4()), "empty"))
    assert (outcome.sqlstate, outcome.at) == ("LDG07", "commit")
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.transactions") == 0


# ---------------------------------------------------------------------------------------------
# I11: idempotency keys
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["writer", "owner"])
def test_a_second_transaction_with_the_same_idempotency_key_is_refused(db, role):
    post_raw(db.writer_dsn, "same-key")
    _, statements = transaction_statements("same-key")
    assert attempt(dsn_of(db, role), *statements).sqlstate == "23505"
    # even inside one database transaction
    _, first = transaction_statements("twice")
    _, second = transaction_statements("twice")
    assert attempt(dsn_of(db, role), *first, *second).sqlstate == "23505"
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.transactions") == 1


# ---------------------------------------------------------------------------------------------
# I5: entries only in the database transaction that created their transaction
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["posted", "pending"])
@pytest.mark.parametrize("role", ["writer", "owner"])
def test_entries_cannot_be_added_to_an_existing_transaction_later(db, status, role):
    tid = post_raw(db.writer_dsn, "old", status=status)
    outcome = attempt(
        dsn_of(db, role),
        insert_entry_sql(tid, 2, "assets:cash", "debit", 5, "USD"),
        insert_entry_sql(tid, 3, "equity:capital", "credit", 5, "USD"),
    )
    assert outcome.sqlstate == "LDG05", outcome
    assert "earlier database transaction" in outcome.message
    assert entry_count(db) == 2


def test_entries_for_a_missing_transaction_or_another_effective_time_are_refused(db):
    # In a month no transaction was ever dated in there is no partition either: refused by routing.
    outcome = attempt(db.writer_dsn, insert_entry_sql(str(uuid.uuid4()), 0, "assets:cash", "debit", 5, "USD"))
    assert outcome.sqlstate == "23514" and "no partition" in outcome.message, outcome
    # In a month that has its partition, by the entries trigger.
    attempt(db.writer_dsn, f"SELECT ledger.ensure_entry_partitions('{T0.isoformat()}', '{T0.isoformat()}')")
    outcome = attempt(db.writer_dsn, insert_entry_sql(str(uuid.uuid4()), 0, "assets:cash", "debit", 5, "USD"))
    assert outcome.sqlstate == "LDG05"
    assert entry_count(db) == 0
    tid = str(uuid.uuid4())
    outcome = attempt(
        db.writer_dsn,
        insert_transaction_sql(tid, "shifted"),
        insert_entry_sql(tid, 0, "assets:cash", "debit", 5, "USD", effective_at=T0 + timedelta(hours=1)),
        insert_entry_sql(tid, 1, "equity:capital", "credit", 5, "USD", effective_at=T0 + timedelta(hours=1)),
    )
    assert outcome.sqlstate == "LDG05"
    assert "effective_at" in outcome.message


def test_entries_for_a_transaction_archived_in_the_same_database_transaction_are_refused(db):
    tid = str(uuid.uuid4())
    outcome = attempt(
        db.writer_dsn,
        insert_transaction_sql(tid, "quick", status="pending"),
        insert_entry_sql(tid, 0, "assets:cash", "debit", 5, "USD"),
        insert_entry_sql(tid, 1, "equity:capital", "credit", 5, "USD"),
        move_sql(tid, "archived"),
        insert_entry_sql(tid, 2, "assets:cash", "debit", 5, "USD"),
    )
    assert outcome.sqlstate == "LDG05"


# ---------------------------------------------------------------------------------------------
# I6: accounts
# ---------------------------------------------------------------------------------------------
def test_entries_for_an_unknown_account_are_refused(db):
    tid = str(uuid.uuid4())
    outcome = attempt(
        db.writer_dsn,
        insert_transaction_sql(tid, "ghost"),
        insert_entry_sql(tid, 0, "assets:nobody", "debit", 5, "USD"),
        insert_entry_sql(tid, 1, "equity:capital", "credit", 5, "USD"),
    )
    assert outcome.sqlstate == "LDG06"
    assert "unknown account" in outcome.message


def test_an_account_restricted_to_one_currency_refuses_others(db):
    tid = str(uuid.uuid4())
    outcome = attempt(
        db.writer_dsn,
        insert_transaction_sql(tid, "usd-to-yen-account"),
        insert_entry_sql(tid, 0, "assets:yen_only", "debit", 5, "USD"),
        insert_entry_sql(tid, 1, "equity:capital", "credit", 5, "USD"),
    )
    assert outcome.sqlstate == "LDG06"
    assert "assets:yen_only" in outcome.message and "JPY" in outcome.message
    post_raw(db.writer_dsn, "yen", legs=[("assets:yen_only", "debit", 500, "JPY"), ("equity:capital", "credit", 500, "JPY")])
    assert cached(db.dsn, "assets:yen_only", "JPY")[:4] == (500, 0, 0, 0)


@pytest.mark.parametrize(
    "code, account_id_sql",
    [
        ("assets::double", "ledger.account_id_of('assets::double')"),
        ("assets:" + "x" * 65, "ledger.account_id_of('assets:' || repeat('x', 65))"),
        ("assets:tab\there", "ledger.account_id_of(E'assets:tab\\there')"),
        ("assets:wrong_id", "gen_random_uuid()"),
        # invisible twins of 'assets:cash' (zero-width space, soft hyphen, BOM, word joiner, RLM)
        ("assets:ca\u200bsh", "ledger.account_id_of(%s)"),
        ("assets:ca\u00adsh", "ledger.account_id_of(%s)"),
        ("assets:\ufeffcash", "ledger.account_id_of(%s)"),
        ("assets:cash\u2060", "ledger.account_id_of(%s)"),
        ("assets:cash\u200f", "ledger.account_id_of(%s)"),
        ("assets:private\ue000", "ledger.account_id_of(%s)"),
        ("assets:tag\U000e0041", "ledger.account_id_of(%s)"),
    ],
)
def test_account_codes_and_ids_are_checked_on_insert(db, code, account_id_sql):
    params = [code, code] if "%s" in account_id_sql else [code]
    outcome = attempt(db.writer_dsn, (f"INSERT INTO ledger.accounts (account_id, code, normal_balance) VALUES ({account_id_sql}, %s, 'debit')", params))
    assert outcome.sqlstate == "23514", outcome


@pytest.mark.parametrize("code", ["assets:caisse:été", "assets:现金", "assets:كاش", "assets:wallet 🙂", "assets:o'brien \"q\""])
def test_printable_codes_in_any_script_are_accepted(db, code):
    outcome = attempt(db.writer_dsn, ("INSERT INTO ledger.accounts (account_id, code, normal_balance) "
                                      "VALUES (ledger.account_id_of(%s), %s, 'debit')", [code, code]))
    assert outcome.sqlstate is None, outcome


# ---------------------------------------------------------------------------------------------
# I7: roles and system columns
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "column, value",
    [("created_at", "now() - interval '1 year'"), ("created_xid", "'1'::xid8"), ("changed_xid", "'1'::xid8"),
     ("status_changed_at", "now()"), ("archived_at", "now()"), ("transition_key", "'k'")],
)
def test_the_writer_cannot_set_system_columns_of_transactions(db, column, value):
    tid = str(uuid.uuid4())
    outcome = attempt(
        db.writer_dsn,
        (f"INSERT INTO ledger.transactions (transaction_id, idempotency_key, status, effective_at, posted_at, {column}) "
         f"VALUES (%s, 'k', 'posted', %s, %s, {value})", [tid, T0, T0]),
        insert_entry_sql(tid, 0, "assets:cash", "debit", 5, "USD"),
        insert_entry_sql(tid, 1, "equity:capital", "credit", 5, "USD"),
    )
    assert outcome.sqlstate == PERMISSION_DENIED, outcome


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO ledger.accounts (account_id, code, normal_balance, created_at) VALUES (ledger.account_id_of('assets:v'), 'assets:v', 'debit', now())",
        "UPDATE ledger.balances SET version = version + 1",
        "TRUNCATE ledger.balances",
        "UPDATE ledger.accounts SET code = 'assets:renamed' WHERE code = 'assets:cash'",
        "UPDATE ledger.accounts SET normal_balance = 'credit' WHERE code = 'assets:cash'",
        "UPDATE ledger.accounts SET currency = 'USD' WHERE code = 'assets:cash'",
        "UPDATE ledger.accounts SET account_id = gen_random_uuid() WHERE code = 'assets:cash'",
        "DELETE FROM ledger.accounts WHERE code = 'assets:cash'",
        "UPDATE ledger.balances SET posted_debits = posted_debits + 1",
        "INSERT INTO ledger.balances (account_id, currency, posted_debits) VALUES (ledger.account_id_of('assets:cash'), 'CHF', 5)",
        "DELETE FROM ledger.balances",
        "UPDATE ledger.transactions SET created_at = now()",
        "INSERT INTO ledger.unbalanced_nets VALUES (pg_current_xact_id(), gen_random_uuid(), 'USD', 0)",
        "DELETE FROM ledger.commit_checks",
        "UPDATE ledger.audit_log SET reason = 'x'",
        "UPDATE ledger.account_types SET normal_balance = 'credit'",
    ],
)
def test_the_writer_cannot_touch_what_the_database_maintains(db, statement):
    post_raw(db.writer_dsn, "t1")
    before = cached(db.dsn, "assets:cash")
    assert attempt(db.writer_dsn, statement).sqlstate == PERMISSION_DENIED
    assert cached(db.dsn, "assets:cash") == before


@pytest.mark.parametrize(
    "statement, expected",
    [
        ("UPDATE ledger.accounts SET code = 'assets:renamed' WHERE code = 'assets:cash'", "LDG03"),
        ("UPDATE ledger.accounts SET normal_balance = 'credit' WHERE code = 'assets:cash'", "LDG03"),
        ("DELETE FROM ledger.accounts WHERE code = 'assets:cash'", "LDG03"),
    ],
)
def test_even_the_owner_cannot_change_account_identity(db, statement, expected):
    post_raw(db.writer_dsn, "t1")
    assert attempt(db.dsn, statement).sqlstate == expected


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger.balances SET version = 0",
        "UPDATE ledger.balances SET version = version - 1, posted_debits = posted_debits",
        "UPDATE ledger.balances SET currency = 'EUR'",
        "UPDATE ledger.balances SET account_id = ledger.account_id_of('equity:capital') WHERE account_id = ledger.account_id_of('assets:cash')",
        "DELETE FROM ledger.balances WHERE account_id = ledger.account_id_of('assets:cash')",
        "TRUNCATE ledger.balances",
    ],
)
def test_even_the_owner_cannot_take_back_a_lock_version(db, statement):
    """An account's lock_version is the sum of its balances' versions (ledger.lock_version): a
    version that goes down, a row that moves to another account or currency or disappears would
    let it come back to a value a client already holds (LDG03, the guard the stored counter had)."""
    post_raw(db.writer_dsn, "t1")
    before = scalar(db.dsn, "SELECT ledger.lock_version(ledger.account_id_of('assets:cash'))")
    assert before > 0
    assert attempt(db.dsn, statement).sqlstate == "LDG03"
    assert scalar(db.dsn, "SELECT ledger.lock_version(ledger.account_id_of('assets:cash'))") == before
    # a correction that keeps the version (the cache_drift runbook's) still goes through
    assert attempt(db.dsn, "UPDATE ledger.balances SET updated_at = now()").sqlstate is None


def test_the_writer_may_change_account_metadata_and_it_is_audited(db):
    outcome = attempt(db.writer_dsn, "SELECT set_config('subledger.actor', 'ops:bo', true)",
                      "UPDATE ledger.accounts SET metadata = '{\"region\": \"eu\"}' WHERE code = 'assets:cash'")
    assert outcome.committed
    row = scalar(db.dsn, "SELECT (action, actor, after->'metadata'->>'region')::text FROM ledger.audit_log WHERE target_id = 'assets:cash'")
    assert row == "(account.metadata_changed,ops:bo,eu)"


@pytest.mark.parametrize(
    "table", ["accounts", "account_types", "transactions", "entries", "balances", "categories", "category_members",
              "audit_log", "period_closures", "closed_periods"],
)
def test_the_reader_reads_everything(db, table):
    post_raw(db.writer_dsn, "t1")
    with connect(db.reader_dsn) as conn:
        conn.execute(f"SELECT * FROM ledger.{table}").fetchall()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO ledger.accounts (account_id, code, normal_balance) VALUES (ledger.account_id_of('assets:r'), 'assets:r', 'debit')",
        "INSERT INTO ledger.transactions (transaction_id, idempotency_key, status, effective_at, posted_at) VALUES (gen_random_uuid(), 'r', 'posted', now(), now())",
        "INSERT INTO ledger.entries SELECT transaction_id, 9, account_id, direction, amount, currency, effective_at FROM ledger.entries LIMIT 1",
        "INSERT INTO ledger.audit_log (action, target_type, target_id) VALUES ('x', 'y', 'z')",
        "INSERT INTO ledger.categories (code, kind) VALUES ('plan:pro', 'group')",
        "INSERT INTO ledger.period_closures (period, action, starts_at, ends_at, timezone) VALUES ('2020-01', 'close', '2020-01-01', '2020-02-01', 'UTC')",
        "UPDATE ledger.transactions SET status = 'archived', archived_at = now()",
        "UPDATE ledger.accounts SET metadata = '{}'",
        "DELETE FROM ledger.category_members",
        "SELECT * FROM ledger.lock_balances(ARRAY[ledger.account_id_of('assets:cash')], ARRAY['USD'])",
        "TRUNCATE ledger.audit_log",
    ],
)
def test_the_reader_can_only_read(db, statement):
    post_raw(db.writer_dsn, "t1")
    assert attempt(db.reader_dsn, statement).sqlstate == PERMISSION_DENIED


# ---------------------------------------------------------------------------------------------
# I8: the audit log only grows, for every role
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "role, expected",
    [("writer", PERMISSION_DENIED), ("reader", PERMISSION_DENIED), ("owner", "LDG02"), ("superuser", "LDG02")],
)
@pytest.mark.parametrize(
    "statement", ["UPDATE ledger.audit_log SET reason = 'rewritten'", "DELETE FROM ledger.audit_log", "TRUNCATE ledger.audit_log"]
)
def test_the_audit_log_is_append_only_for_every_role(db, role, expected, statement):
    assert attempt(db.writer_dsn, "SELECT set_config('subledger.reason', 'original', true)",  # an audited action
                   "INSERT INTO ledger.categories (code, kind) VALUES ('plan:pro', 'group')").committed
    outcome = attempt(dsn_of(db, role), statement)
    assert outcome.sqlstate == expected, outcome
    assert scalar(db.dsn, "SELECT array_agg(reason) FROM ledger.audit_log") == ["original"]


def test_the_writer_cannot_forge_audit_times_or_transaction_ids(db):
    for column, value in (("at", "now() - interval '1 year'"), ("xid", "'1'::xid8"), ("audit_id", "gen_random_uuid()")):
        outcome = attempt(db.writer_dsn, f"INSERT INTO ledger.audit_log (action, target_type, target_id, {column}) VALUES ('a', 'b', 'c', {value})")
        assert outcome.sqlstate == PERMISSION_DENIED, column


# ---------------------------------------------------------------------------------------------
# Reversals: a posted reversal of a posted transaction, at most once
# ---------------------------------------------------------------------------------------------
FLIPPED = [("assets:cash", "credit", 100, "USD"), ("equity:capital", "debit", 100, "USD")]


def test_a_reversal_is_posted_links_its_target_and_is_audited(db):
    original = post_raw(db.writer_dsn, "orig")
    before = scalar(db.dsn, "SELECT to_jsonb(t) FROM ledger.transactions t WHERE transaction_id = %s", [original])
    reversal = post_raw(db.writer_dsn, "rev", legs=FLIPPED, reverses=original)
    assert scalar(db.dsn, "SELECT to_jsonb(t) FROM ledger.transactions t WHERE transaction_id = %s", [original]) == before
    assert cached(db.dsn, "assets:cash")[:4] == (100, 100, 0, 0)
    audit = scalar(db.dsn, "SELECT (action, after->>'reversal_transaction_id')::text FROM ledger.audit_log WHERE target_id = %s", [original])
    assert audit == f"(transaction.reversed,{reversal})"


def test_reversal_rules(db):
    posted = post_raw(db.writer_dsn, "posted")
    pending = post_raw(db.writer_dsn, "pending", status="pending")
    archived = post_raw(db.writer_dsn, "archived", status="pending")
    assert attempt(db.writer_dsn, move_sql(archived, "archived")).committed

    # only a posted transaction can be reversed
    for target in (pending, archived):
        _, statements = transaction_statements(f"rev-{target}", FLIPPED, reverses=target)
        outcome = attempt(db.writer_dsn, *statements)
        assert outcome.sqlstate == "LDG04", outcome
    # a reversal is itself posted
    _, statements = transaction_statements("rev-pending", FLIPPED, status="pending", reverses=posted)
    assert attempt(db.writer_dsn, *statements).sqlstate == "LDG04"
    # at most once
    post_raw(db.writer_dsn, "rev-1", legs=FLIPPED, reverses=posted)
    _, statements = transaction_statements("rev-2", FLIPPED, reverses=posted)
    assert attempt(db.writer_dsn, *statements).sqlstate == "23505"
    # the target must exist (no foreign key: checked per statement)
    _, statements = transaction_statements("rev-ghost", FLIPPED, reverses=str(uuid.uuid4()))
    outcome = attempt(db.writer_dsn, *statements)
    assert outcome.sqlstate == "LDG04" and "does not exist" in outcome.message, outcome
    # a transaction does not reverse itself
    tid = str(uuid.uuid4())
    _, statements = transaction_statements("self", FLIPPED, reverses=tid, transaction_id=tid)
    assert attempt(db.writer_dsn, *statements).sqlstate in ("23514", "23503")
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.transactions WHERE reverses_transaction_id IS NOT NULL") == 1


@pytest.mark.parametrize("legs", [
    [("assets:cash", "credit", 50, "USD"), ("equity:capital", "debit", 50, "USD")],  # another amount
    [("assets:cash", "debit", 100, "USD"), ("equity:capital", "credit", 100, "USD")],  # sides not swapped
    [("assets:cash", "credit", 100, "USD"), ("liabilities:wallet", "debit", 100, "USD")],  # another account
    [("assets:cash", "credit", 100, "EUR"), ("equity:capital", "debit", 100, "EUR")],  # another currency
    [*FLIPPED, ("assets:cash", "credit", 7, "USD"), ("equity:capital", "debit", 7, "USD")],  # extra legs
], ids=["amount", "sides", "account", "currency", "extra-legs"])
def test_a_reversal_must_mirror_its_target(db, legs):
    """A fake reversal -- balanced, but not its target's legs on the other side -- is refused at
    commit (LDG04), whatever the writer inserts; nothing of it remains."""
    target = post_raw(db.writer_dsn, "target")
    _, statements = transaction_statements("fake-reversal", legs, reverses=target)
    outcome = attempt(db.writer_dsn, *statements)
    assert outcome.sqlstate == "LDG04" and "debit and credit swapped" in outcome.message, outcome
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.transactions WHERE reverses_transaction_id IS NOT NULL") == 0
    post_raw(db.writer_dsn, "true-reversal", legs=FLIPPED, reverses=target)  # the mirror is accepted


# ---------------------------------------------------------------------------------------------
# I10: closed periods
# ---------------------------------------------------------------------------------------------
def _close(db, period: str, starts: str, ends: str, action: str = "close"):
    outcome = attempt(db.writer_dsn, ("INSERT INTO ledger.period_closures (period, action, starts_at, ends_at, timezone, reason) "
                                      "VALUES (%s, %s, %s, %s, 'UTC', 'month end')", [period, action, starts, ends]))
    assert outcome.committed, outcome


def test_nothing_takes_effect_inside_a_closed_period(db):
    pending_in_february = post_raw(db.writer_dsn, "february-pending", status="pending", effective_at=T0 - timedelta(days=20))
    _close(db, "2024-02", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z")
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.audit_log WHERE action = 'period.close' AND target_id = '2024-02'") == 1

    in_february = T0 - timedelta(days=15)
    _, statements = transaction_statements("late", effective_at=in_february)
    outcome = attempt(db.writer_dsn, *statements)
    assert outcome.sqlstate == "LDG09" and "2024-02" in outcome.message
    # the period's bounds: its last microsecond is closed, the next month's first instant is open
    from datetime import datetime
    _, statements = transaction_statements("edge", effective_at=datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC))
    assert attempt(db.writer_dsn, *statements).sqlstate == "LDG09"
    post_raw(db.writer_dsn, "march-1st", effective_at=datetime(2024, 3, 1, tzinfo=UTC))
    # a lifecycle move dated inside the period
    assert attempt(db.writer_dsn, move_sql(pending_in_february, "posted", in_february)).sqlstate == "LDG09"
    assert attempt(db.writer_dsn, move_sql(pending_in_february, "archived", in_february)).sqlstate == "LDG09"
    assert scalar(db.dsn, "SELECT status FROM ledger.transactions WHERE transaction_id = %s", [pending_in_february]) == "pending"
    # the closures themselves are append-only
    assert attempt(db.dsn, "DELETE FROM ledger.period_closures").sqlstate == "LDG02"
    assert attempt(db.writer_dsn, "DELETE FROM ledger.period_closures").sqlstate == PERMISSION_DENIED
    # the writer cannot reopen it, not even to post and close again in one transaction (LDG11)
    reopen = ("INSERT INTO ledger.period_closures (period, action, starts_at, ends_at, timezone, reason) "
              "VALUES ('2024-02', 'reopen', '2024-02-01T00:00:00Z', '2024-03-01T00:00:00Z', 'UTC', 'sneaky')")
    close_again = reopen.replace("'reopen'", "'close'")
    _, late_statements = transaction_statements("sneaky-late", effective_at=in_february)
    outcome = attempt(db.writer_dsn, reopen, *late_statements, close_again)
    assert outcome.sqlstate == "LDG11" and "2024-02" in outcome.message
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.transactions WHERE idempotency_key = 'sneaky-late'") == 0
    # the owner reopens it, audited with who really did it; then it accepts postings again
    assert attempt(db.dsn, reopen).committed
    assert scalar(db.dsn, "SELECT db_user FROM ledger.audit_log WHERE action = 'period.reopen' AND target_id = '2024-02'") == \
        scalar(db.dsn, "SELECT session_user")
    post_raw(db.writer_dsn, "late", effective_at=in_february)
    assert attempt(db.writer_dsn, move_sql(pending_in_february, "posted", in_february)).committed


def test_the_audit_log_names_who_really_acted_whatever_actor_the_writer_claims(db):
    writer_user = scalar(db.writer_dsn, "SELECT session_user")
    claimed = attempt(db.writer_dsn, "SELECT set_config('subledger.actor', 'cfo', true)",
                      ("INSERT INTO ledger.period_closures (period, action, starts_at, ends_at, timezone, reason) "
                       "VALUES ('2024-01', 'close', '2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z', 'UTC', 'month end')", []))
    assert claimed.committed, claimed
    assert scalar(db.dsn, "SELECT actor || ' / ' || db_user FROM ledger.audit_log WHERE action = 'period.close' "
                          "AND target_id = '2024-01'") == f"cfo / {writer_user}"
    assert scalar(db.dsn, "SELECT db_user FROM ledger.period_closures WHERE period = '2024-01'") == writer_user
    # the writer cannot write the column itself, on either table
    forged = ("INSERT INTO ledger.audit_log (action, target_type, target_id, db_user) "
              "VALUES ('x', 'period', '2024-01', 'subledger_owner')")
    assert attempt(db.writer_dsn, forged).sqlstate == PERMISSION_DENIED
    forged = ("INSERT INTO ledger.period_closures (period, action, starts_at, ends_at, timezone, db_user) "
              "VALUES ('2024-03', 'close', '2024-03-01T00:00:00Z', '2024-04-01T00:00:00Z', 'UTC', 'subledger_owner')")
    assert attempt(db.writer_dsn, forged).sqlstate == PERMISSION_DENIED


# ---------------------------------------------------------------------------------------------
# I8: the cache changes in the same database transaction as the entries
# ---------------------------------------------------------------------------------------------
def test_cached_balances_change_in_the_same_database_transaction(db):
    post_raw(db.writer_dsn, "base")
    base = cached(db.dsn, "assets:cash")
    tid, statements = transaction_statements("inflight", legs=[("assets:cash", "debit", 25, "USD"), ("equity:capital", "credit", 25, "USD")])
    with connect(db.writer_dsn) as writer, connect(db.reader_dsn) as reader:
        writer.execute("BEGIN")
        for sql, params in statements:
            writer.execute(sql, params)
        inside = writer.execute("SELECT posted_debits, version FROM ledger.balances WHERE account_id = ledger.account_id_of('assets:cash') "
                                "AND currency = 'USD'").fetchone()
        assert inside == (base[0] + 25, base[4] + 1)
        # a concurrent reader does not see it before commit
        assert reader.execute("SELECT posted_debits, version FROM ledger.balances WHERE account_id = ledger.account_id_of('assets:cash') "
                              "AND currency = 'USD'").fetchone() == (base[0], base[4])
        writer.execute("ROLLBACK")
    assert cached(db.dsn, "assets:cash") == base

    assert attempt(db.writer_dsn, *statements).committed
    assert cached(db.dsn, "assets:cash")[0] == base[0] + 25


def test_cached_balances_exist_only_for_existing_accounts(db):
    """No foreign key guards ledger.balances: its only writers (SECURITY DEFINER) refuse unknown accounts."""
    post_raw(db.writer_dsn, "base")
    ghost = str(uuid.uuid4())
    with connect(db.writer_dsn) as writer:
        locked = writer.execute(
            "SELECT account_id::text FROM ledger.lock_balances(ARRAY[%s, ledger.account_id_of('assets:cash')]::uuid[], "
            "ARRAY['USD', 'USD'])", [ghost]).fetchall()
    assert [row[0] for row in locked] == [scalar(db.dsn, "SELECT ledger.account_id_of('assets:cash')::text")]
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.balances b WHERE NOT EXISTS "
                          "(SELECT 1 FROM ledger.accounts a WHERE a.account_id = b.account_id)") == 0
    assert attempt(db.writer_dsn, ("INSERT INTO ledger.balances (account_id, currency) VALUES (%s, 'USD')", [ghost])).sqlstate == PERMISSION_DENIED


def test_a_lifecycle_move_and_its_audit_row_roll_back_together(db):
    tid = post_raw(db.writer_dsn, "p", status="pending")
    before = cached(db.dsn, "assets:cash")
    with connect(db.writer_dsn) as writer, connect(db.reader_dsn) as reader:
        writer.execute("BEGIN")
        sql, params = move_sql(tid, "posted")
        writer.execute(sql, params)
        assert writer.execute("SELECT count(*) FROM ledger.audit_log WHERE target_id = %s", [str(tid)]).fetchone()[0] == 1
        assert writer.execute("SELECT posted_debits FROM ledger.balances WHERE account_id = ledger.account_id_of('assets:cash')").fetchone()[0] == 100
        assert reader.execute("SELECT posted_debits, pending_debits FROM ledger.balances "
                              "WHERE account_id = ledger.account_id_of('assets:cash')").fetchone() == (0, 100)
        writer.execute("ROLLBACK")
    assert cached(db.dsn, "assets:cash") == before
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.audit_log WHERE target_id = %s", [str(tid)]) == 0


def test_a_concurrent_writer_waits_for_the_balance_lock_and_sees_the_committed_cache(db):
    """Two raw writers on one balance: the second's cache update starts from the first's committed sums."""
    post_raw(db.writer_dsn, "base")
    _, first = transaction_statements("w1", legs=[("assets:cash", "debit", 11, "USD"), ("equity:capital", "credit", 11, "USD")])
    _, second = transaction_statements("w2", legs=[("assets:cash", "debit", 22, "USD"), ("equity:capital", "credit", 22, "USD")])
    with connect(db.writer_dsn) as a:
        a.execute("BEGIN")
        for sql, params in first:
            a.execute(sql, params)
        done = threading.Event()
        result = {}

        def other():
            result["outcome"] = attempt(db.writer_dsn, *second)
            done.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert not done.wait(0.5)  # blocked on the balance row held by the first writer
        a.execute("COMMIT")
        thread.join(10)
    assert result["outcome"].committed
    assert cached(db.dsn, "assets:cash")[:4] == (133, 0, 0, 0) == recomputed(db.dsn, "assets:cash")
    assert cached(db.dsn, "equity:capital")[:4] == (0, 133, 0, 0) == recomputed(db.dsn, "equity:capital")


def test_the_legs_of_one_statement_may_not_overflow_the_cache_silently(db):
    big = 2**62
    _, statements = transaction_statements("big1", legs=[("assets:cash", "debit", big, "USD"), ("equity:capital", "credit", big, "USD")])
    assert attempt(db.writer_dsn, *statements).committed
    _, statements = transaction_statements("big2", legs=[("assets:cash", "debit", big, "USD"), ("equity:capital", "credit", big, "USD")])
    outcome = attempt(db.writer_dsn, *statements)
    assert outcome.sqlstate == "22003", outcome  # numeric out of range: refused, not wrapped
    assert cached(db.dsn, "assets:cash")[0] == big


def test_usd_100_fixture_is_balanced():
    # Guard against a typo in the shared legs making other tests vacuous.
    assert sum(a if d == "debit" else -a for _, d, a, _ in USD_100) == 0


def test_no_global_sequence_on_the_write_path_and_ids_come_from_the_writer(db):
    """Phase 4 (sharding by account): no sequence or identity column in the ledger schema; the
    account id is a hash of the code, computed identically by Python and SQL."""
    from ledger_pipelines.ledger.ids import account_id, uuid7_text

    assert scalar(db.dsn, "SELECT count(*) FROM pg_sequences WHERE schemaname = 'ledger'") == 0
    assert scalar(db.dsn, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ledger' "
                          "AND (is_identity = 'YES' OR column_default LIKE 'nextval%%')") == 0
    for code in ("assets:cash", "revenue:plans:pro", "liabilities:客户:ü 'quoted'"):
        assert scalar(db.dsn, "SELECT ledger.account_id_of(%s)::text", [code]) == str(account_id(code))
    # transaction ids are time-ordered UUIDv7 made by the writer
    first, second = uuid.UUID(uuid7_text()), uuid.UUID(uuid7_text())
    assert first.version == 7 and first.bytes[:6] <= second.bytes[:6]


def test_a_transaction_inserted_as_posted_is_posted_at_its_effective_time(db):
    """posted_at after effective_at is what a lifecycle move records; inserted directly it is refused (LDG04)."""
    transaction_id = str(uuid.uuid4())
    later = (
        "INSERT INTO ledger.transactions (transaction_id, idempotency_key, status, effective_at, posted_at) "
        "VALUES (%(id)s, 'late-post', 'posted', %(at)s, %(later)s)",
        {"id": transaction_id, "at": T0, "later": T0 + timedelta(days=365)},
    )
    legs = [insert_entry_sql(transaction_id, n, *leg) for n, leg in enumerate(USD_100)]
    outcome = attempt(db.writer_dsn, later, *legs)
    assert (outcome.sqlstate, outcome.at) == ("LDG04", "statement"), outcome
    assert "posted_at" in outcome.message
    _, fine = transaction_statements("on-time")  # posted_at = effective_at
    assert attempt(db.writer_dsn, *fine).sqlstate is None


@pytest.mark.parametrize(
    ("code", "normal", "says"),
    [
        ("assets:flipped", "credit", "assets accounts are debit-normal"),
        ("revenue:flipped", "debit", "revenue accounts are credit-normal"),
        ("bogus:top", "debit", "is not an account type"),
    ],
)
def test_an_account_is_signed_by_its_type(db, code, normal, says):
    outcome = attempt(db.writer_dsn, ("INSERT INTO ledger.accounts (account_id, code, normal_balance) "
                                      "VALUES (ledger.account_id_of(%s), %s, %s)", [code, code, normal]))
    assert outcome.sqlstate == "23514" and says in outcome.message, outcome
