"""ledger.post_transaction, move_transaction and reverse_transaction: one call per operation, every
guarantee kept.

Raw SQL as each role (no Python API) for what the database promises -- in particular that the
insert triggers skip a statement only inside the owner-run posting function, whoever sets the flag
-- and ``Ledger`` for the typed errors the client maps the SQLSTATEs onto.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta

import pytest

from ledger_pipelines.accounting.balances import signed_balances
from ledger_pipelines.accounting.errors import (
    BalanceConditionFailed,
    IdempotencyConflict,
    InvalidTransition,
    UnknownTransaction,
    VersionConflict,
)
from ledger_pipelines.ledger import balances as reads
from tests.ledger.helpers_ledger import open_ledger, transfer
from tests.ledger.helpers_sql import (
    T0,
    attempt,
    cached,
    connect,
    create_accounts,
    insert_entry_sql,
    move_sql,
    post_raw,
    recomputed,
    scalar,
    transaction_statements,
)

PERMISSION_DENIED = "42501"
SET_FLAG = "SELECT set_config('subledger.posting_call', 'checked', false)"  # for the whole session


@pytest.fixture
def db(ledger_db):
    create_accounts(ledger_db.writer_dsn)
    return ledger_db


POST = ("SELECT transaction_id::text, status, created FROM ledger.post_transaction(%(id)s, %(key)s, %(status)s, "
        "%(at)s, %(hash)s, %(accounts)s, %(directions)s, %(amounts)s::bigint[], %(currencies)s, %(versions)s::bigint[], "
        "%(cond_legs)s::integer[], %(cond_balances)s::text[], %(cond_ops)s::text[], %(cond_amounts)s::bigint[])")


def post_params(key: str, amount: int = 100, **overrides) -> dict:
    params = {"id": str(uuid.uuid4()), "key": key, "status": "posted", "at": T0, "hash": "h-" + key,
              "accounts": ["assets:cash", "equity:capital"], "directions": ["debit", "credit"],
              "amounts": [amount, amount], "currencies": ["USD", "USD"], "versions": None, "cond_legs": None,
              "cond_balances": None, "cond_ops": None, "cond_amounts": None}
    params.update(overrides)
    return params


def ledger_state(db) -> tuple:
    """Everything a posting may write (transactions, entries, cache, versions, audit, commit-check tables)."""
    with connect(db.dsn) as conn:
        return tuple(conn.execute(q).fetchall() for q in (
            "SELECT transaction_id, idempotency_key, status FROM ledger.transactions ORDER BY 1",
            "SELECT transaction_id, entry_no, amount FROM ledger.entries ORDER BY 1, 2",
            "SELECT account_id, currency, posted_debits, posted_credits, pending_debits, pending_credits, version "
            "FROM ledger.balances ORDER BY 1, 2",
            "SELECT account_id, ledger.lock_version(account_id) FROM ledger.accounts ORDER BY 1",
            "SELECT count(*) FROM ledger.audit_log",
            "SELECT (SELECT count(*) FROM ledger.commit_checks), (SELECT count(*) FROM ledger.unbalanced_nets)",
        ))


# ---------------------------------------------------------------------------------------------
# one call writes what the triggers would
# ---------------------------------------------------------------------------------------------
def test_one_call_writes_the_transaction_entries_cache_and_versions(db):
    ledger = open_ledger(db.writer_dsn)
    ledger.post(transfer("fund", "assets:cash", "equity:capital", 500))
    posted = ledger.post(transfer("hold", "assets:new_account", "assets:cash", 120, status="pending",
                                  credit_conditions=[("available", "gte", 0)]))
    assert posted.created
    with connect(db.reader_dsn) as conn:
        read = {(b.account, b.currency): b for b in reads.balances(conn)}
    for returned in posted.balances:  # what the call returns is what the ledger now holds
        now = read[(returned.account, returned.currency)]
        assert (returned.posted_debits, returned.posted_credits, returned.pending_debits, returned.pending_credits) == (
            now.posted_debits, now.posted_credits, now.pending_debits, now.pending_credits)
        assert returned.lock_version == scalar(db.dsn, "SELECT ledger.lock_version(account_id) FROM ledger.accounts WHERE code = %s",
                                               [returned.account])
    assert {b.account: b.lock_version for b in posted.balances} == {"assets:cash": 2, "assets:new_account": 1}
    assert {b.account: b.available for b in posted.balances} == {"assets:cash": 380, "assets:new_account": 0}
    for account in ("assets:cash", "equity:capital", "assets:new_account"):
        assert cached(db.dsn, account)[:4] == recomputed(db.dsn, account)
    # the new account was created as Ledger.post always did: signed by its type, with its path categories
    assert scalar(db.dsn, "SELECT normal_balance FROM ledger.accounts WHERE code = 'assets:new_account'") == "debit"
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.categories WHERE code = 'assets:new_account'") == 1
    # nothing left for a commit check: the call checked double entry itself
    assert ledger_state(db)[-1] == [(0, 0)]
    replay = ledger.post(transfer("hold", "assets:new_account", "assets:cash", 120, status="pending",
                                  credit_conditions=[("available", "gte", 0)]))
    assert (replay.transaction_id, replay.created, replay.balances) == (posted.transaction_id, False, ())
    ledger.conn.close()


def test_a_posting_finds_its_accounts_by_index_and_plans_once(db):
    """A posting (one at a time or in a post_many call) reads the accounts it names by one index probe
    each: a scan of ledger.accounts (the hash join the planner chose at ~1,000 accounts) would grow
    with the number of accounts.
    Its statements keep their generic plans (force_generic_plan): no re-planning per call."""
    ledger = open_ledger(db.writer_dsn)
    ledger.post(transfer("warm", "assets:cash", "equity:capital", 1))

    def account_scans(conn) -> tuple[int, int]:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT seq_scan, idx_scan FROM pg_stat_user_tables "
                            "WHERE relid = 'ledger.accounts'::regclass").fetchone()

    with connect(db.dsn) as observer:
        observer.autocommit = True
        seq_before, idx_before = account_scans(observer)
        for n in range(5):
            ledger.post(transfer(f"probe-{n}", "assets:cash", "equity:capital", 10))
        ledger.post_many([transfer(f"many-{n}", "assets:cash", "equity:capital", 10) for n in range(3)])
        ledger.conn.execute("SELECT pg_stat_force_next_flush()")
        ledger.conn.execute("SELECT 1")  # ends a transaction, so the statistics are flushed
        seq_after, idx_after = account_scans(observer)
    assert seq_after == seq_before
    assert idx_after >= idx_before + 10 + 6  # two legs, five postings, then three in one post_many call
    assert scalar(db.dsn, "SELECT array_to_string(proconfig, ',') FROM pg_proc "
                          "WHERE oid = 'ledger.post_transaction'::regproc").endswith("plan_cache_mode=force_generic_plan")
    ledger.conn.close()


def test_the_triggers_skip_the_posting_calls_rows_and_only_those(db):
    """Inside one database transaction of the owner: the call's rows arm no commit check (the
    triggers skipped them); a raw insert right after it, in the same transaction, does (they ran)."""
    with connect(db.dsn) as conn:
        conn.execute("BEGIN")
        conn.execute(POST, post_params("by-call"))
        assert conn.execute("SELECT count(*) FROM ledger.commit_checks").fetchone()[0] == 0
        assert conn.execute("SELECT current_setting('subledger.posting_call', true)").fetchone()[0] == ""
        _, statements = transaction_statements("raw-after", legs=[("assets:cash", "debit", 7, "USD"),
                                                                  ("equity:capital", "credit", 6, "USD")])
        for statement, params in statements:
            conn.execute(statement, params)
        assert conn.execute("SELECT count(*) FROM ledger.commit_checks").fetchone()[0] == 1
        with pytest.raises(Exception) as refused:
            conn.execute("COMMIT")
        assert refused.value.sqlstate == "LDG01"
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.transactions") == 0


def test_a_writer_setting_the_flag_by_hand_skips_no_guard(db):
    """A writer that sets subledger.posting_call itself still meets every trigger: unbalanced legs,
    entries added to a committed transaction, a changed posted transaction, a forged cache."""
    dsn = db.writer_dsn
    posted = post_raw(db.writer_dsn, "posted", effective_at=T0)
    _, unbalanced = transaction_statements("unbalanced", legs=[("assets:cash", "debit", 100, "USD"),
                                                               ("equity:capital", "credit", 99, "USD")])
    outcome = attempt(dsn, SET_FLAG, *unbalanced)
    assert (outcome.sqlstate, outcome.at) == ("LDG01", "commit")
    assert attempt(dsn, SET_FLAG, insert_entry_sql(posted, 5, "assets:cash", "debit", 1, "USD")).sqlstate == "LDG05"
    assert attempt(dsn, SET_FLAG, move_sql(posted, "archived")).sqlstate == "LDG04"
    assert attempt(dsn, SET_FLAG, "UPDATE ledger.transactions SET description = 'x'").sqlstate in ("LDG03", PERMISSION_DENIED)
    assert attempt(dsn, SET_FLAG, "UPDATE ledger.entries SET amount = 1").sqlstate in ("LDG02", PERMISSION_DENIED)
    assert attempt(dsn, SET_FLAG, "UPDATE ledger.balances SET version = 0").sqlstate in ("LDG03", PERMISSION_DENIED)
    _, wrong_currency = transaction_statements("yen", legs=[("assets:yen_only", "debit", 5, "USD"),
                                                            ("equity:capital", "credit", 5, "USD")])
    assert attempt(dsn, SET_FLAG, *wrong_currency).sqlstate == "LDG06"
    assert cached(db.dsn, "assets:cash")[:4] == recomputed(db.dsn, "assets:cash")
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.transactions") == 1


def test_the_flag_lives_only_inside_the_call(db):
    with connect(db.writer_dsn) as conn:
        conn.execute("BEGIN")
        conn.execute(POST, post_params("one"))
        assert conn.execute("SELECT coalesce(current_setting('subledger.posting_call', true), '')").fetchone()[0] == ""
        assert conn.execute("SELECT ledger.accepted_by_posting_call()").fetchone()[0] is False
        conn.execute(SET_FLAG)  # set by the writer: still not accepted, it is not the owner
        assert conn.execute("SELECT ledger.accepted_by_posting_call()").fetchone()[0] is False
        conn.execute("COMMIT")
    # What tells the owner apart: CREATE on the schema ledger, held by the owner alone.
    assert scalar(db.dsn, "SELECT array_agg(r.rolname ORDER BY r.rolname) FROM pg_roles r "
                          "WHERE NOT r.rolsuper AND has_schema_privilege(r.oid, 'ledger', 'CREATE')") == ["subledger_owner"]
    with connect(db.dsn) as owner:
        assert owner.execute("SELECT ledger.accepted_by_posting_call()").fetchone()[0] is False
        owner.execute(SET_FLAG)
        assert owner.execute("SELECT ledger.accepted_by_posting_call()").fetchone()[0] is True


@pytest.mark.parametrize("call", [
    "SELECT ledger.post_transaction(gen_random_uuid(), 'k', 'posted', now(), 'h', '{assets:cash,equity:capital}', "
    "'{debit,credit}', '{1,1}', '{USD,USD}')",
    "SELECT ledger.move_transaction('k', NULL, 'posted', now(), NULL, NULL, 'a', NULL)",
    "SELECT ledger.reverse_transaction(gen_random_uuid(), 'r', 'k', NULL, now(), 'h', NULL, '{}', NULL, 'a')",
])
def test_the_reader_cannot_call_the_posting_functions(db, call):
    assert attempt(db.reader_dsn, call).sqlstate == PERMISSION_DENIED
    assert attempt(db.reader_dsn, SET_FLAG, *transaction_statements("r")[1]).sqlstate == PERMISSION_DENIED


# ---------------------------------------------------------------------------------------------
# the call refuses what the triggers refuse, as the writer, writing nothing
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, sqlstate", [
    ({"amounts": [100, 99]}, "LDG01"),
    ({"status": "archived"}, "LDG04"),
    ({"accounts": ["assets:yen_only", "equity:capital"]}, "LDG06"),
    ({"accounts": ["nonsense:cash", "equity:capital"]}, "23514"),  # accounts_valid_on_insert
    ({"currencies": ["USD"]}, "LDG05"),
    ({"accounts": [], "directions": [], "amounts": [], "currencies": []}, "LDG07"),
    ({"amounts": [0, 0]}, "23514"),
    ({"cond_legs": [3], "cond_balances": ["posted"], "cond_ops": ["gte"], "cond_amounts": [0]}, "LDG05"),
    ({"at": T0 - timedelta(days=20)}, "LDG09"),
])
def test_the_call_refuses_what_the_triggers_refuse(db, overrides, sqlstate):
    with connect(db.dsn) as conn:
        conn.execute("INSERT INTO ledger.period_closures (period, action, starts_at, ends_at, timezone) "
                     "VALUES ('2024-02', 'close', '2024-02-01T00:00Z', '2024-03-01T00:00Z', 'UTC')")
    before = ledger_state(db)
    assert attempt(db.writer_dsn, (POST, post_params("bad", **overrides))).sqlstate == sqlstate
    assert ledger_state(db) == before


FOUR_LEGS = {"accounts": ["assets:cash", "assets:cash", "equity:capital", "equity:capital"],
             "directions": ["debit", "debit", "credit", "credit"]}


@pytest.mark.parametrize("currencies, amounts, refused_in", [
    (["USD", "EUR", "USD", "EUR"], [100, 40, 100, 40], None),  # each currency balances across legs apart
    (["EUR", "USD", "USD", "EUR"], [40, 100, 100, 40], None),
    (["USD", "EUR", "USD", "EUR"], [100, 40, 100, 39], "EUR: debits minus credits = 1"),
    (["USD", "EUR", "EUR", "USD"], [100, 40, 40, 101], "USD: debits minus credits = -1"),
    (["USD", "USD", "USD", "USD"], [2**62, 2**62, 2**62, 2**62 - 1], "USD: debits minus credits = 1"),  # past 64 bits, exact
])
def test_each_currency_balances_on_its_own(db, currencies, amounts, refused_in):
    """I1 per currency, whatever the order of the legs; the refusal names the currency and its net."""
    outcome = attempt(db.writer_dsn, (POST, post_params("multi", **FOUR_LEGS, currencies=currencies, amounts=amounts)))
    if refused_in is None:
        assert outcome.committed, outcome
    else:
        assert outcome.sqlstate == "LDG01" and f"does not balance in {refused_in}" in outcome.message, outcome


def test_idempotency_versions_and_conditions_are_refused_with_what_to_do(db):
    assert attempt(db.writer_dsn, (POST, post_params("k"))).committed
    before = ledger_state(db)
    with connect(db.writer_dsn) as conn:
        replay = conn.execute(POST, post_params("k")).fetchone()
        assert replay[1:] == ("posted", False)
        with pytest.raises(Exception) as conflict:
            conn.execute(POST, post_params("k", amount=5, hash="other content"))
        assert conflict.value.sqlstate == "LDG16" and "k" in conflict.value.diag.message_primary
        with pytest.raises(Exception) as stale:
            conn.execute(POST, post_params("v", versions=[0, None]))
        assert stale.value.sqlstate == "LDG17"
        assert json.loads(stale.value.diag.message_detail) == [{"account": "assets:cash", "expected": 0, "actual": 1}]
        with pytest.raises(Exception) as failed:
            conn.execute(POST, post_params("c", amount=150, directions=["credit", "debit"], cond_legs=[1, 1],
                                           cond_balances=["available", "posted"], cond_ops=["gte", "lte"],
                                           cond_amounts=[0, 1000]))
        assert failed.value.sqlstate == "LDG18"
        assert json.loads(failed.value.diag.message_detail) == [
            {"account": "assets:cash", "currency": "USD", "balance": "available", "op": "gte", "bound": 0, "actual": -50}]
    assert ledger_state(db) == before


def test_every_condition_is_checked_on_its_balance_row_and_the_failures_come_in_condition_order(db):
    """Several conditions, two on one account through two of its legs (one balance row), every kind
    and operator: each is evaluated on the row after the posting, and the refusal lists exactly the
    failing ones in the caller's order, whatever order the rows were locked in."""
    assert attempt(db.writer_dsn, (POST, post_params("fund"))).committed  # cash 100 debit-normal, capital 100 credit-normal
    before = ledger_state(db)
    with connect(db.writer_dsn) as conn, pytest.raises(Exception) as failed:
        conn.execute(POST, post_params(
            "m", status="pending", accounts=["assets:cash", "assets:cash", "equity:capital"],
            directions=["credit", "credit", "debit"], amounts=[60, 40, 100], currencies=["USD"] * 3,
            cond_legs=[1, 2, 3, 1, 3], cond_balances=["available", "available", "pending", "pending", "posted"],
            cond_ops=["gte", "gte", "eq", "lte", "eq"], cond_amounts=[0, 1, 0, -1, 99]))
    assert failed.value.sqlstate == "LDG18"
    # cash: posted 100, pending credits 100 -> available 0, pending 0; capital: posted 100, pending 0.
    assert json.loads(failed.value.diag.message_detail) == [
        {"account": "assets:cash", "currency": "USD", "balance": "available", "op": "gte", "bound": 1, "actual": 0},
        {"account": "assets:cash", "currency": "USD", "balance": "pending", "op": "lte", "bound": -1, "actual": 0},
        {"account": "equity:capital", "currency": "USD", "balance": "posted", "op": "eq", "bound": 99, "actual": 100}]
    assert ledger_state(db) == before


def test_ledger_maps_the_sqlstates_to_typed_errors(db):
    ledger = open_ledger(db.writer_dsn)
    ledger.post(transfer("fund", "assets:cash", "equity:capital", 100))
    with pytest.raises(IdempotencyConflict, match="idempotency_key='fund' already holds .* The first one stands"):
        ledger.post(transfer("fund", "assets:cash", "equity:capital", 101))
    with pytest.raises(VersionConflict) as stale:
        ledger.post(transfer("v", "assets:cash", "equity:capital", 1, debit_version=0, credit_version=1))
    assert [(m.account, m.expected, m.actual) for m in stale.value.mismatches] == [("assets:cash", 0, 1)]
    assert "Re-read the account" in str(stale.value)
    with pytest.raises(BalanceConditionFailed) as failed:
        ledger.post(transfer("c", "equity:capital", "assets:cash", 150, credit_conditions=[("available", "gte", 0)]))
    assert [(f.account, f.balance, f.op, f.bound, f.actual) for f in failed.value.failures] == [
        ("assets:cash", "available", "gte", 0, -50)]
    assert "retry when the balance allows it" in str(failed.value)
    with pytest.raises(UnknownTransaction, match="target='nope'"):
        ledger.move("nope", "posted")
    with pytest.raises(UnknownTransaction):
        ledger.reverse(str(uuid.uuid4()), idempotency_key="r")
    ledger.conn.close()


# ---------------------------------------------------------------------------------------------
# moves and reversals
# ---------------------------------------------------------------------------------------------
def test_a_move_is_never_dated_before_the_transactions_effective_at(db):
    ledger = open_ledger(db.writer_dsn)
    ledger.post(transfer("p", "assets:cash", "equity:capital", 10, status="pending", at=T0))
    before = ledger_state(db)
    for to_status in ("posted", "archived"):
        with pytest.raises(InvalidTransition, match="before its effective_at") as refused:
            ledger.move("p", to_status, at=T0 - timedelta(microseconds=1))
        assert refused.value.sqlstate == "LDG04"
    assert ledger_state(db) == before
    moved = ledger.move("p", "posted", at=T0, transition_key="settle-p", reason="settled")
    assert moved.created and moved.status == "posted"
    assert ledger.move("p", "posted", at=T0, transition_key="settle-p").created is False
    assert scalar(db.dsn, "SELECT actor || '/' || reason FROM ledger.audit_log WHERE action = 'transaction.posted'") == \
        "test/settled"
    assert cached(db.dsn, "assets:cash")[:4] == recomputed(db.dsn, "assets:cash") == (10, 0, 0, 0)
    ledger.conn.close()


def test_a_reversal_holds_exactly_its_targets_entries_with_sides_swapped(db):
    ledger = open_ledger(db.writer_dsn)
    legs = [("assets:cash", "debit", 70, "USD"), ("liabilities:wallet", "credit", 30, "USD"),
                      ("equity:capital", "credit", 40, "USD")]
    target = post_raw(db.writer_dsn, "three-legs", legs=legs)
    reversal = ledger.reverse("three-legs", idempotency_key="three-legs:void", reason="typo")
    with connect(db.dsn) as conn:
        original = conn.execute("SELECT entry_no, account_id, direction, amount, currency FROM ledger.entries "
                                "WHERE transaction_id = %s ORDER BY entry_no", [target]).fetchall()
        reversed_ = conn.execute("SELECT entry_no, account_id, CASE direction WHEN 'debit' THEN 'credit' ELSE 'debit' END, "
                                 "amount, currency FROM ledger.entries WHERE transaction_id = %s ORDER BY entry_no",
                                 [reversal.transaction_id]).fetchall()
        audit = conn.execute("SELECT actor, reason, target_id FROM ledger.audit_log WHERE action = 'transaction.reversed'").fetchall()
    assert len(original) == len(legs) and reversed_ == original
    assert audit == [("test", "typo", target)]
    for account, *_ in legs:
        assert cached(db.dsn, account)[:4] == recomputed(db.dsn, account)
    assert ledger.reverse("three-legs", idempotency_key="three-legs:void", reason="typo").created is False
    with pytest.raises(IdempotencyConflict):
        ledger.reverse("three-legs", idempotency_key="three-legs:void", reason="another reason")
    ledger.conn.close()


def test_balance_value_is_the_python_definition(db):
    rng = random.Random(16)
    big = 2**63 - 1
    cases = [(kind, normal, *(rng.choice([0, 1, rng.randint(0, 10**6), rng.randint(0, big), big]) for _ in range(4)))
             for kind in ("posted", "pending", "available") for normal in ("debit", "credit") for _ in range(40)]
    with connect(db.reader_dsn) as conn:
        for kind, normal, pd, pc, qd, qc in cases:
            value = conn.execute("SELECT ledger.balance_value(%s, %s, %s, %s, %s, %s)", [kind, normal, pd, pc, qd, qc]).fetchone()[0]
            posted, pending, available = signed_balances(normal, pd, pc, qd, qc)
            assert value == {"posted": posted, "pending": pending, "available": available}[kind], (kind, normal, pd, pc, qd, qc)
