"""The write API (``Ledger.post/move/reverse``, categories): idempotency, lifecycle, reversal, audit,
optimistic locking, balance conditions and typed errors -- against the real database.

Expected balances are computed with the contract's formula written out in
``helpers_ledger.contract_balances`` from sums this test keeps itself.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest

from ledger_pipelines.accounting.errors import (
    BalanceConditionFailed,
    CategoryError,
    ConnectionInTransaction,
    IdempotencyConflict,
    InvalidTransaction,
    InvalidTransition,
    LedgerError,
    PeriodClosed,
    UnbalancedTransaction,
    UnknownTransaction,
    VersionConflict,
    VersionMismatch,
)
from ledger_pipelines.ledger import balances as reads
from ledger_pipelines.ledger.model import Condition, Leg, NewTransaction
from ledger_pipelines.ledger.posting import retry_on_version_conflict
from ledger_pipelines.postgres.database import connect
from tests.ledger.helpers_ledger import (
    T0,
    audit_rows,
    contract_balances,
    normal_of,
    open_ledger,
    snapshot,
    transfer,
)


@pytest.fixture
def ledger(ledger_db):
    lg = open_ledger(ledger_db.writer_dsn, actor="ops:test")
    yield lg
    lg.conn.close()


def cache_of(db, account, currency="USD"):
    with connect(db.reader_dsn) as conn:
        b = reads.balance(conn, account, currency)
    return b.posted, b.pending, b.available


def row_of(db, transaction_id):
    with psycopg.connect(db.dsn) as conn:
        return conn.execute("SELECT to_jsonb(t) FROM ledger.transactions t WHERE transaction_id = %s", [transaction_id]).fetchone()[0]


# ---------------------------------------------------------------------------------------------
# post, idempotent replay
# ---------------------------------------------------------------------------------------------
def test_post_then_replay_same_content_then_conflicting_content(ledger, ledger_db):
    tx = transfer("evt-1", "assets:cash", "revenue:sales", 1250, description="first sale", metadata={"plan": "pro"})
    first = ledger.post(tx)
    assert (first.created, first.status, first.idempotency_key) == (True, "posted", "evt-1")
    assert cache_of(ledger_db, "assets:cash") == contract_balances("debit", 1250, 0, 0, 0)
    assert cache_of(ledger_db, "revenue:sales") == contract_balances("credit", 0, 1250, 0, 0)

    before = snapshot(ledger_db.dsn)
    again = ledger.post(tx)
    assert (again.created, again.transaction_id) == (False, first.transaction_id)
    # the same instant written in another offset is the same content
    shifted = transfer("evt-1", "assets:cash", "revenue:sales", 1250, description="first sale", metadata={"plan": "pro"},
                       at=T0.astimezone(__import__("datetime").timezone(timedelta(hours=5))))
    assert ledger.post(shifted).created is False
    assert snapshot(ledger_db.dsn) == before

    for changed in (
        transfer("evt-1", "assets:cash", "revenue:sales", 1251, description="first sale", metadata={"plan": "pro"}),
        transfer("evt-1", "assets:cash", "revenue:sales", 1250, description="other text", metadata={"plan": "pro"}),
        transfer("evt-1", "assets:cash", "revenue:sales", 1250, description="first sale", metadata={"plan": "pro"}, status="pending"),
        transfer("evt-1", "assets:bank", "revenue:sales", 1250, description="first sale", metadata={"plan": "pro"}),
    ):
        with pytest.raises(IdempotencyConflict) as caught:
            ledger.post(changed)
        message = str(caught.value)
        assert "idempotency_key='evt-1'" in message and first.transaction_id in message
        assert "first one stands" in message and "new key" in message
    assert snapshot(ledger_db.dsn) == before


def test_a_transaction_is_stored_as_given(ledger, ledger_db):
    tx = NewTransaction(
        "evt-legs",
        (Leg("assets:cash", "debit", 300, "USD"), Leg("assets:cash", "debit", 500, "JPY"),
         Leg("revenue:sales", "credit", 300, "USD"), Leg("revenue:sales", "credit", 500, "JPY")),
        T0, reference="invoice:9", metadata={"k": "v"}, source_event_id="evt-legs", source_event_type="journal.posted",
    )
    posted = ledger.post(tx)
    with psycopg.connect(ledger_db.reader_dsn) as conn:
        row = conn.execute("SELECT idempotency_key, status, effective_at, posted_at, reference, metadata, source_event_type "
                           "FROM ledger.transactions WHERE transaction_id = %s", [posted.transaction_id]).fetchone()
        legs = conn.execute("SELECT a.code, e.direction, e.amount, e.currency, e.effective_at FROM ledger.entries e "
                            "JOIN ledger.accounts a USING (account_id) WHERE transaction_id = %s ORDER BY entry_no",
                            [posted.transaction_id]).fetchall()
    assert row == ("evt-legs", "posted", T0, T0, "invoice:9", {"k": "v"}, "journal.posted")
    assert legs == [(leg.account, leg.direction, leg.amount, leg.currency, T0) for leg in tx.legs]
    assert cache_of(ledger_db, "assets:cash", "JPY") == (500, 500, 500)


# ---------------------------------------------------------------------------------------------
# lifecycle
# ---------------------------------------------------------------------------------------------
def test_pending_then_posted(ledger, ledger_db):
    ledger.post(transfer("fund", "assets:cash", "equity:capital", 1000))
    pay = ledger.post(transfer("pay-1", "assets:in_transit", "assets:cash", 400, status="pending"))
    assert pay.status == "pending"
    # cash: posted 1000, a pending outflow of 400
    assert cache_of(ledger_db, "assets:cash") == contract_balances("debit", 1000, 0, 0, 400) == (1000, 600, 600)
    assert cache_of(ledger_db, "assets:in_transit") == contract_balances("debit", 0, 0, 400, 0) == (0, 400, 0)

    moved = ledger.move("pay-1", "posted", at=T0 + timedelta(days=2), reason="provider settled")
    assert (moved.status, moved.created, moved.transaction_id) == ("posted", True, pay.transaction_id)
    assert cache_of(ledger_db, "assets:cash") == contract_balances("debit", 1000, 400, 0, 0)
    assert cache_of(ledger_db, "assets:in_transit") == contract_balances("debit", 400, 0, 0, 0)
    row = row_of(ledger_db, pay.transaction_id)
    assert row["status"] == "posted" and row["posted_at"].startswith("2024-03-03")
    assert row["effective_at"].startswith("2024-03-01")  # entries keep their effective time
    assert [(a, actor, reason) for a, actor, reason, *_ in audit_rows(ledger_db.dsn, pay.transaction_id)] == [
        ("transaction.posted", "ops:test", "provider settled")
    ]

    with pytest.raises(InvalidTransition) as caught:
        ledger.move("pay-1", "archived")
    assert "'pay-1' is posted" in str(caught.value) and "Reverse it instead" in str(caught.value)


def test_pending_then_archived(ledger, ledger_db):
    ledger.post(transfer("fund", "assets:cash", "equity:capital", 1000))
    pay = ledger.post(transfer("pay-2", "assets:in_transit", "assets:cash", 400, status="pending"))
    ledger.move(pay.transaction_id, "archived", at=T0 + timedelta(days=1), reason="card declined")  # by id
    assert cache_of(ledger_db, "assets:cash") == contract_balances("debit", 1000, 0, 0, 0)
    assert cache_of(ledger_db, "assets:in_transit") == (0, 0, 0)
    assert audit_rows(ledger_db.dsn, pay.transaction_id)[0][:3] == ("transaction.archived", "ops:test", "card declined")
    for status in ("posted", "archived"):
        with pytest.raises(InvalidTransition, match="'pay-2' is archived"):
            ledger.move("pay-2", status)


def test_move_refusals_and_transition_keys(ledger, ledger_db):
    ledger.post(transfer("p1", "assets:in_transit", "assets:cash", 10, status="pending"))
    ledger.post(transfer("p2", "assets:in_transit", "assets:cash", 20, status="pending"))
    with pytest.raises(UnknownTransaction, match="target='nope'"):
        ledger.move("nope", "posted")
    with pytest.raises(InvalidTransition, match="to_status='pending'"):
        ledger.move("p1", "pending")  # type: ignore[arg-type]

    first = ledger.move("p1", "posted", transition_key="settle-1", transition_hash="h1")
    before = snapshot(ledger_db.dsn)
    replay = ledger.move("p1", "posted", transition_key="settle-1", transition_hash="h1")
    assert (replay.created, replay.transaction_id, replay.status) == (False, first.transaction_id, "posted")
    with pytest.raises(IdempotencyConflict, match="settle-1"):
        ledger.move("p1", "posted", transition_key="settle-1", transition_hash="other")
    with pytest.raises(IdempotencyConflict, match="transition_key='settle-1' already moved transaction 'p1'"):
        ledger.move("p2", "posted", transition_key="settle-1", transition_hash="h1")
    assert snapshot(ledger_db.dsn) == before  # the refused calls wrote nothing
    # the same key asking for the other move is no replay, also without a content hash
    ledger.move("p2", "archived", transition_key="fail-2")
    archived = snapshot(ledger_db.dsn)
    with pytest.raises(IdempotencyConflict, match="already moved transaction 'p2' to archived, not to posted"):
        ledger.move("p2", "posted", transition_key="fail-2")
    assert snapshot(ledger_db.dsn) == archived
    assert ledger.move("p2", "archived", transition_key="fail-2").created is False


# ---------------------------------------------------------------------------------------------
# reversal
# ---------------------------------------------------------------------------------------------
def test_reversal_is_a_new_linked_transaction_and_the_original_is_untouched(ledger, ledger_db):
    original = ledger.post(NewTransaction(
        "inv-1", (Leg("assets:receivables:s1", "debit", 900, "USD"), Leg("revenue:sales", "credit", 700, "USD"),
                  Leg("liabilities:tax", "credit", 200, "USD")), T0))
    before = row_of(ledger_db, original.transaction_id)
    at = T0 + timedelta(days=3)
    reversal = ledger.reverse("inv-1", idempotency_key="inv-1:void", effective_at=at, reason="issued in error")
    assert reversal.created and reversal.status == "posted" and reversal.transaction_id != original.transaction_id
    assert row_of(ledger_db, original.transaction_id) == before

    with psycopg.connect(ledger_db.reader_dsn) as conn:
        link, eff = conn.execute("SELECT reverses_transaction_id::text, effective_at FROM ledger.transactions WHERE transaction_id = %s",
                                 [reversal.transaction_id]).fetchone()
        legs = conn.execute("SELECT a.code, e.direction, e.amount FROM ledger.entries e JOIN ledger.accounts a USING (account_id) "
                            "WHERE transaction_id = %s ORDER BY entry_no", [reversal.transaction_id]).fetchall()
    assert (link, eff) == (original.transaction_id, at)
    assert legs == [("assets:receivables:s1", "credit", 900), ("revenue:sales", "debit", 700), ("liabilities:tax", "debit", 200)]
    for account in ("assets:receivables:s1", "revenue:sales", "liabilities:tax"):
        assert cache_of(ledger_db, account) == (0, 0, 0)
    # as of before the reversal the original still counts
    with connect(ledger_db.reader_dsn) as conn:
        assert reads.balance(conn, "revenue:sales", "USD", as_of=at - timedelta(seconds=1)).posted == 700

    audit = audit_rows(ledger_db.dsn, original.transaction_id)
    assert [(a, actor, reason) for a, actor, reason, *_ in audit] == [("transaction.reversed", "ops:test", "issued in error")]
    assert audit[0][5]["reversal_transaction_id"] == reversal.transaction_id

    before = snapshot(ledger_db.dsn)
    assert ledger.reverse("inv-1", idempotency_key="inv-1:void", effective_at=at, reason="issued in error").created is False
    with pytest.raises(IdempotencyConflict, match="inv-1:void"):
        ledger.reverse("inv-1", idempotency_key="inv-1:void", effective_at=at, reason="another reason")
    with pytest.raises(InvalidTransition, match="already reversed") as caught:
        ledger.reverse("inv-1", idempotency_key="inv-1:void-again")
    assert "at most once" in str(caught.value)
    assert snapshot(ledger_db.dsn) == before
    # a reversal may itself be reversed
    assert ledger.reverse("inv-1:void", idempotency_key="inv-1:unvoid", effective_at=at).created
    assert cache_of(ledger_db, "revenue:sales") == (700, 700, 700)


def test_replaying_a_reversal_without_an_effective_time_is_a_replay(ledger, ledger_db):
    ledger.post(transfer("x", "assets:cash", "revenue:sales", 50))
    first = ledger.reverse("x", idempotency_key="x:rev", reason="dup")
    again = ledger.reverse("x", idempotency_key="x:rev", reason="dup")
    assert (again.created, again.transaction_id) == (False, first.transaction_id)


def test_only_posted_transactions_are_reversed(ledger, ledger_db):
    ledger.post(transfer("pend", "assets:in_transit", "assets:cash", 10, status="pending"))
    ledger.post(transfer("arch", "assets:in_transit", "assets:cash", 10, status="pending"))
    ledger.move("arch", "archived")
    before = snapshot(ledger_db.dsn)
    with pytest.raises(InvalidTransition, match="archive a pending one instead"):
        ledger.reverse("pend", idempotency_key="r1")
    with pytest.raises(InvalidTransition, match="'arch' is archived"):
        ledger.reverse("arch", idempotency_key="r2")
    with pytest.raises(UnknownTransaction, match="target='ghost'"):
        ledger.reverse("ghost", idempotency_key="r3")
    assert snapshot(ledger_db.dsn) == before


# ---------------------------------------------------------------------------------------------
# audit: every admin action, same transaction
# ---------------------------------------------------------------------------------------------
def _close_february(db):
    with psycopg.connect(db.writer_dsn) as conn:
        conn.execute("INSERT INTO ledger.period_closures (period, action, starts_at, ends_at, timezone) "
                     "VALUES ('2024-02', 'close', '2024-02-01T00:00Z', '2024-03-01T00:00Z', 'UTC')")


def test_a_failed_admin_action_leaves_no_audit_row(ledger, ledger_db):
    """The audit row is written by the same database transaction, so a refusal after it removes it too."""
    ledger.post(transfer("fund", "assets:cash", "equity:capital", 100, at=T0))
    # effective in February (a move is never dated before the transaction's effective_at)
    pending = ledger.post(transfer("pend", "assets:in_transit", "assets:cash", 10, status="pending",
                                   at=T0 - timedelta(days=20)))
    _close_february(ledger_db)
    before = snapshot(ledger_db.dsn)
    february = T0 - timedelta(days=10)
    # move: the lifecycle trigger writes the audit row, then the closed-period trigger refuses
    with pytest.raises(PeriodClosed, match="2024-02"):
        ledger.move("pend", "posted", at=february, reason="late settle")
    # reversal: the insert trigger writes the audit row, then the closed-period trigger refuses
    with pytest.raises(PeriodClosed):
        ledger.reverse("fund", idempotency_key="fund:rev", effective_at=february, reason="late void")
    # category: membership of an unknown account
    ledger.create_category("plan:pro", reason="pricing")
    before = snapshot(ledger_db.dsn)
    with pytest.raises(CategoryError, match="assets:ghost"):
        ledger.add_to_category("plan:pro", ["assets:cash", "assets:ghost"], reason="x")
    assert snapshot(ledger_db.dsn) == before
    assert row_of(ledger_db, pending.transaction_id)["status"] == "pending"
    # (the DDL audit also recorded, as schema.ddl, the entries partitions the postings made)
    assert [a for a, *_ in audit_rows(ledger_db.dsn) if not a.startswith("schema.")] == ["period.close", "category.created"]


def test_category_changes_are_audited_with_actor_and_reason(ledger, ledger_db):
    ledger.post(transfer("a", "assets:receivables:s1", "revenue:sales", 100))
    ledger.post(transfer("b", "assets:receivables:s2", "revenue:sales", 40))
    assert ledger.create_category("plan", reason="plans") is True
    assert ledger.create_category("plan", reason="plans") is False  # exists as asked: no-op
    ledger.create_category("plan:pro", normal_balance="debit", description="Pro plan", reason="new plan")
    assert ledger.add_to_category("plan:pro", ["assets:receivables:s1", "assets:receivables:s2"], reason="migrated") == 2
    ledger.set_category_parent("plan:pro", "plan", reason="nest")
    assert ledger.remove_from_category("plan:pro", ["assets:receivables:s2"], reason="downgraded") == 1

    rows = [(a, actor, reason) for a, actor, reason, *_ in audit_rows(ledger_db.dsn) if a.startswith("category.")]
    assert rows == [
        ("category.created", "ops:test", "plans"),
        ("category.created", "ops:test", "new plan"),
        ("category.member_added", "ops:test", "migrated"),
        ("category.member_added", "ops:test", "migrated"),
        ("category.changed", "ops:test", "nest"),
        ("category.member_removed", "ops:test", "downgraded"),
    ]
    with connect(ledger_db.reader_dsn) as conn:
        by_category = {b.account: b.posted for b in reads.category_balances(conn, "plan")}
    assert by_category == {"plan": 100, "plan:pro": 100}
    with pytest.raises(CategoryError, match="nested under it"):
        ledger.set_category_parent("plan", "plan:pro")
    with pytest.raises(CategoryError, match="path category"):
        ledger.create_category("assets:receivables")


# ---------------------------------------------------------------------------------------------
# optimistic locking
# ---------------------------------------------------------------------------------------------
def lock_version(db, account):
    with connect(db.reader_dsn) as conn:
        return reads.get_account(conn, account).lock_version


def test_a_stale_lock_version_is_refused_and_writes_nothing(ledger, ledger_db):
    ledger.post(transfer("t1", "assets:cash", "equity:capital", 100))
    ledger.post(transfer("t2", "assets:cash", "equity:capital", 50))
    ledger.post(transfer("t3", "assets:in_transit", "assets:cash", 30, status="pending"))
    ledger.move("t3", "posted")
    # one per entry posted to the account and one per entry a lifecycle move carries: 3 + 1
    assert lock_version(ledger_db, "assets:cash") == 4
    before = snapshot(ledger_db.dsn)
    with pytest.raises(VersionConflict) as caught:
        ledger.post(transfer("t4", "expenses:fees", "assets:cash", 10, credit_version=3, debit_version=0))
    assert caught.value.mismatches == [VersionMismatch("assets:cash", 3, 4)]
    message = str(caught.value)
    assert "account assets:cash: expected lock_version 3, it is 4" in message and "Re-read" in message
    assert snapshot(ledger_db.dsn) == before
    ledger.post(transfer("t4", "expenses:fees", "assets:cash", 10, credit_version=4))
    assert lock_version(ledger_db, "assets:cash") == 5


def test_lock_version_counts_every_currency_and_a_stale_one_is_refused_across_currencies(ledger, ledger_db):
    """An account's lock_version is derived from its balances (ledger.lock_version, the sum of their
    versions): a posting in EUR makes a version read before it stale for a posting in USD."""
    ledger.post(transfer("usd", "assets:cash", "equity:capital", 100))
    ledger.post(transfer("eur", "assets:cash", "equity:capital", 70, "EUR"))
    ledger.post(transfer("hold", "assets:in_transit", "assets:cash", 5, "JPY", status="pending"))
    ledger.move("hold", "posted")
    ledger.reverse("eur", idempotency_key="eur-undone")
    # entries posted: USD 1, EUR 2 (the reversal's included), JPY 1, and 1 the move carried
    assert lock_version(ledger_db, "assets:cash") == 5
    with connect(ledger_db.reader_dsn) as conn:
        assert {b.currency: (b.version, b.lock_version) for b in reads.balances(conn, ["assets:cash"])} == {
            "USD": (1, 5), "EUR": (2, 5), "JPY": (2, 5)}
    seen = lock_version(ledger_db, "assets:cash")
    ledger.post(transfer("eur-2", "expenses:fees", "assets:cash", 1, "EUR"))
    before = snapshot(ledger_db.dsn)
    with pytest.raises(VersionConflict) as caught:
        ledger.post(transfer("usd-2", "expenses:fees", "assets:cash", 1, credit_version=seen))
    assert caught.value.mismatches == [VersionMismatch("assets:cash", seen, seen + 1)]
    assert snapshot(ledger_db.dsn) == before
    (refused,) = ledger.post_many([transfer("usd-3", "expenses:fees", "assets:cash", 1, credit_version=seen)])
    assert isinstance(refused, VersionConflict) and refused.mismatches == [VersionMismatch("assets:cash", seen, seen + 1)]
    assert lock_version(ledger_db, "assets:cash") == seen + 1
    posted = ledger.post(transfer("usd-2", "expenses:fees", "assets:cash", 1, credit_version=seen + 1))
    assert {b.account: b.lock_version for b in posted.balances}["assets:cash"] == seen + 2 == lock_version(ledger_db, "assets:cash")


def test_lock_versions_and_lock_version_agree(ledger, ledger_db):
    """ledger.lock_versions (a posting's accounts, one call) and ledger.lock_version (one account, for
    readers and lock_balances) are two queries of one rule: both equal the sum of the account's
    balance versions, for accounts of several currencies, one with no balance row, in the order asked."""
    ledger.post(transfer("usd", "assets:cash", "equity:capital", 100))
    ledger.post(transfer("eur", "assets:cash", "equity:capital", 70, "EUR"))
    ledger.post(transfer("hold", "assets:in_transit", "assets:cash", 5, "JPY", status="pending"))
    ledger.move("hold", "posted")
    codes = ["equity:capital", "assets:cash", "assets:untouched", "assets:in_transit", "assets:cash"]
    with connect(ledger_db.dsn) as conn:
        conn.execute("INSERT INTO ledger.accounts (account_id, code, normal_balance) "
                     "VALUES (ledger.account_id_of('assets:untouched'), 'assets:untouched', 'debit')")
        ids = [conn.execute("SELECT ledger.account_id_of(%s)", [code]).fetchone()[0] for code in codes]
        sums = dict(conn.execute("SELECT account_id, sum(version)::bigint FROM ledger.balances GROUP BY 1").fetchall())
        together = conn.execute("SELECT ledger.lock_versions(%s::uuid[])", [ids]).fetchone()[0]
        one_by_one = [conn.execute("SELECT ledger.lock_version(%s)", [i]).fetchone()[0] for i in ids]
    expected = [sums.get(i, 0) for i in ids]
    assert together == one_by_one == expected
    assert expected == [2, 4, 0, 2, 4]  # capital: USD, EUR; cash: USD, EUR, JPY and the move of the JPY hold


def test_retry_on_version_conflict_re_reads_and_succeeds(ledger, ledger_db):
    ledger.post(transfer("fund", "assets:cash", "equity:capital", 100))
    rival = open_ledger(ledger_db.writer_dsn, actor="rival")
    calls = []

    def attempt():
        calls.append(1)
        with connect(ledger_db.reader_dsn) as conn:
            seen = reads.get_account(conn, "assets:cash").lock_version
            cash = reads.balance(conn, "assets:cash", "USD").posted
        if len(calls) == 1:  # someone else writes between our read and our write
            rival.post(transfer("rival", "expenses:fees", "assets:cash", 30))
        # spend half of what we saw
        return ledger.post(transfer(f"spend-{len(calls)}", "expenses:rent", "assets:cash", cash // 2, credit_version=seen))

    result = retry_on_version_conflict(attempt)
    assert result.created and len(calls) == 2
    assert cache_of(ledger_db, "assets:cash")[0] == 100 - 30 - (100 - 30) // 2
    rival.conn.close()

    def always_stale():
        return ledger.post(transfer(f"stale-{uuid.uuid4()}", "expenses:rent", "assets:cash", 1, credit_version=0))

    with pytest.raises(VersionConflict):
        retry_on_version_conflict(always_stale, max_attempts=3, backoff_s=0)


# ---------------------------------------------------------------------------------------------
# balance conditions
# ---------------------------------------------------------------------------------------------
KINDS = ("posted", "pending", "available")


CASES = [("gte", 1, False), ("lte", -1, False), ("eq", 1, False), ("eq", -1, False),
         ("gte", 0, True), ("lte", 0, True), ("eq", 0, True)]


@pytest.mark.parametrize("account", ["assets:cash", "liabilities:wallet:s1"])
@pytest.mark.parametrize("new_status", ["posted", "pending"])
def test_balance_conditions(ledger, ledger_db, account, new_status):
    """gte/lte/eq on posted/pending/available after an outflow: refused with nothing written, or accepted."""
    normal = normal_of(account)
    other = "equity:capital"
    sums = {"pd": 0, "pc": 0, "qd": 0, "qc": 0}
    keys = iter(range(1000))

    def move_money(amount, inflow, status, conditions=()):
        """inflow: on the account's normal side; the account's four sums are kept here by hand."""
        account_side = normal if inflow else ("credit" if normal == "debit" else "debit")
        key = f"m{next(keys)}"
        tx = (transfer(key, account, other, amount, status=status, debit_conditions=conditions) if account_side == "debit"
              else transfer(key, other, account, amount, status=status, credit_conditions=conditions))
        result = ledger.post(tx)
        sums[("p" if status == "posted" else "q") + account_side[0]] += amount
        return result

    move_money(1000, True, "posted")
    move_money(30, False, "pending")
    move_money(20, True, "pending")
    outflow_slot = ("p" if new_status == "posted" else "q") + ("c" if normal == "debit" else "d")
    for kind in KINDS:
        for op, shift, holds in CASES:
            # what the balances would be after an outflow of 50 with status new_status
            after = dict(sums)
            after[outflow_slot] += 50
            value = dict(zip(KINDS, contract_balances(normal, after["pd"], after["pc"], after["qd"], after["qc"]), strict=True))[kind]
            bound = value + shift
            if holds:
                assert move_money(50, False, new_status, conditions=[(kind, op, bound)]).created
                assert dict(zip(KINDS, cache_of(ledger_db, account), strict=True))[kind] == value
                continue
            before = snapshot(ledger_db.dsn)
            with pytest.raises(BalanceConditionFailed) as caught:
                move_money(50, False, new_status, conditions=[(kind, op, bound)])
            failure = caught.value.failures[0]
            assert (failure.account, failure.currency, failure.balance, failure.op, failure.bound, failure.actual) == (
                account, "USD", kind, op, bound, value)
            message = str(caught.value)
            assert f"{kind} balance of {account} would be {value} USD" in message and "Nothing was written" in message
            assert snapshot(ledger_db.dsn) == before
    assert cache_of(ledger_db, account) == contract_balances(normal, sums["pd"], sums["pc"], sums["qd"], sums["qc"])


def test_conditions_on_several_legs_all_hold_or_nothing_is_written(ledger, ledger_db):
    ledger.post(transfer("fund", "assets:cash", "liabilities:wallet:a", 100))
    ledger.post(transfer("fund-b", "assets:cash", "liabilities:wallet:b", 100))
    before = snapshot(ledger_db.dsn)
    # wallet:b pays 150 to wallet:a: b would go to -50
    tx = NewTransaction("pay", (Leg("liabilities:wallet:b", "debit", 150, "USD", (Condition("available", "gte", 0),)),
                                Leg("liabilities:wallet:a", "credit", 150, "USD", (Condition("posted", "lte", 1000),))), T0)
    with pytest.raises(BalanceConditionFailed) as caught:
        ledger.post(tx)
    assert [(f.account, f.actual) for f in caught.value.failures] == [("liabilities:wallet:b", -50)]
    assert snapshot(ledger_db.dsn) == before


# ---------------------------------------------------------------------------------------------
# typed errors name the field, the value and what to do
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "build, error, fragments",
    [
        (lambda: Leg("assets:cash", "debit", 10.5, "USD"), InvalidTransaction, ["amount=10.5", "integer number of minor units", "1050"]),
        (lambda: Leg("assets:cash", "debit", 0, "USD"), InvalidTransaction, ["amount=0", "> 0", "direction"]),
        (lambda: Leg("assets:cash", "debit", -5, "USD"), InvalidTransaction, ["amount=-5", "direction for the sign"]),
        (lambda: Leg("assets:cash", "debit", 2**63, "USD"), InvalidTransaction, [f"amount={2**63}", "64 bits"]),
        (lambda: Leg("assets:cash", "debit", "10", "USD"), InvalidTransaction, ["amount='10'"]),
        (lambda: Leg("assets:cash", "debit", 10, "usd"), InvalidTransaction, ["currency='usd'", "ISO 4217", "USD"]),
        (lambda: Leg("assets:cash", "up", 10, "USD"), InvalidTransaction, ["direction='up'", "'debit' or 'credit'"]),
        (lambda: Leg("assets::cash", "debit", 10, "USD"), InvalidTransaction, ["account='assets::cash'", "segment 2 is empty", "Name accounts like"]),
        (lambda: Leg("assets:" + "x" * 65, "debit", 10, "USD"), InvalidTransaction, ["segment 2 has 65 characters", "at most 64"]),
        (lambda: Leg("assets:a\u202eb", "debit", 10, "USD"), InvalidTransaction, ["U+202E"]),
        (lambda: Leg("assets:ca\u200bsh", "debit", 10, "USD"), InvalidTransaction, ["U+200B", "invisible"]),
        (lambda: Leg("assets:ca\u00adsh", "debit", 10, "USD"), InvalidTransaction, ["U+00AD"]),
        (lambda: Leg("assets:cash", "debit", 10, "USD", lock_version=-1), InvalidTransaction, ["lock_version=-1", "as read"]),
        (lambda: Condition("available", "gt", 0), InvalidTransaction, ["conditions.op='gt'", "gte, lte or eq"]),
        (lambda: Condition("free", "gte", 0), InvalidTransaction, ["conditions.balance='free'", "posted, pending or available"]),
        (lambda: Condition("available", "gte", 0.5), InvalidTransaction, ["conditions.amount=0.5", "integer minor units"]),
        (lambda: transfer("k", "assets:a", "assets:b", 1, at=T0.replace(tzinfo=None)), InvalidTransaction,
         ["effective_at=", "time zone", "aware datetime"]),
        (lambda: transfer("k", "assets:a", "assets:b", 1, at="2024-01-01"), InvalidTransaction, ["effective_at='2024-01-01'", "not a datetime"]),
        (lambda: transfer("", "assets:a", "assets:b", 1), InvalidTransaction, ["idempotency_key=''", "1-512", "source event id"]),
        (lambda: transfer("k", "assets:a", "assets:b", 1, status="archived"), InvalidTransaction, ["status='archived'", "Archive it after"]),
        (lambda: transfer("k", "assets:a", "assets:b", 1, metadata={"n": 1}), InvalidTransaction, ["metadata=", "strings to strings"]),
        (lambda: NewTransaction("k", (Leg("assets:a", "debit", 1, "USD"),), T0), InvalidTransaction, ["legs=1", "at least two legs", "balancing leg"]),
        (lambda: NewTransaction("k", (Leg("assets:a", "debit", 15, "USD"), Leg("assets:b", "credit", 5, "USD"),
                                      Leg("assets:b", "credit", 3, "EUR")), T0),
         UnbalancedTransaction, ["'k'", "EUR: debits - credits = -3", "USD: debits - credits = 10", "must equal"]),
    ],
)
def test_input_errors_name_field_value_and_fix(build, error, fragments):
    with pytest.raises(error) as caught:
        build()
    assert isinstance(caught.value, LedgerError)
    for fragment in fragments:
        assert fragment in str(caught.value), (fragment, str(caught.value))


def test_errors_found_by_the_ledger_or_the_database_name_field_value_and_fix(ledger, ledger_db):
    before = snapshot(ledger_db.dsn)
    with pytest.raises(InvalidTransaction) as caught:
        ledger.post(transfer("k", "stuff:thing", "assets:cash", 5))
    assert "account='stuff:thing'" in str(caught.value) and "'stuff' is not an account type" in str(caught.value)
    assert "assets" in str(caught.value) and "ledger.account_types" in str(caught.value)
    assert snapshot(ledger_db.dsn) == before

    # an account restricted to JPY (configured directly), refused by the database guard LDG06
    with psycopg.connect(ledger_db.writer_dsn) as conn:
        conn.execute("INSERT INTO ledger.accounts (account_id, code, normal_balance, currency) "
                     "VALUES (ledger.account_id_of('assets:yen'), 'assets:yen', 'debit', 'JPY')")
    before = snapshot(ledger_db.dsn)
    with pytest.raises(InvalidTransaction) as caught:
        ledger.post(transfer("k", "assets:yen", "equity:capital", 5))
    assert caught.value.sqlstate == "LDG06"
    assert "assets:yen holds only JPY, not USD" in str(caught.value) and "Create the account first" in str(caught.value)
    assert snapshot(ledger_db.dsn) == before
    assert ledger.post(transfer("k", "assets:yen", "equity:capital", 5, currency="JPY")).created


def test_every_ledger_operation_is_its_own_committed_transaction(ledger_db):
    conn = psycopg.connect(ledger_db.writer_dsn)  # not autocommit
    from ledger_pipelines.ledger.posting import Ledger

    ledger = Ledger(conn, actor="t")
    reads.balances(conn)  # a read on the same connection between operations
    ledger.post(transfer("committed", "assets:cash", "equity:capital", 5))
    with connect(ledger_db.reader_dsn) as other:  # visible to everyone at once, without a commit by the caller
        assert reads.balance(other, "assets:cash", "USD").posted == 5
    conn.close()

    conn = psycopg.connect(ledger_db.writer_dsn)
    conn.execute("SELECT 1")  # the caller opened a transaction
    ledger = Ledger(conn, actor="t")
    with pytest.raises(ConnectionInTransaction, match="INTRANS.*autocommit"):
        ledger.post(transfer("lost", "assets:cash", "equity:capital", 5))
    conn.close()
