"""The bulk path (apply_plan): per-event outcomes, guards in batch order, nothing lost or doubled.

Expected values are computed here from the plan's own numbers (a tiny replay), never read back
from the implementation.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import polars as pl
import psycopg
import pytest

from ledger_pipelines.ledger.balances import balances
from ledger_pipelines.ledger.bulk import apply_plan
from tests.ledger.plans import T0, PlanBuilder

ACCOUNT_TYPES = {"assets": "debit", "expenses": "debit", "liabilities": "credit", "revenue": "credit", "equity": "credit"}


def run(db, builder: PlanBuilder):
    with psycopg.connect(db.writer_dsn) as conn, conn.transaction():
        return apply_plan(conn, builder.build(), batch_id=str(uuid.uuid4()), account_types=ACCOUNT_TYPES)


def outcome(result, seq):
    row = result.outcomes.filter(pl.col("seq") == seq).row(0, named=True)
    return row["outcome"], row["reason_code"]


def posted_balance(db, account, currency="USD"):
    with psycopg.connect(db.reader_dsn) as conn:
        found = [b for b in balances(conn, [account]) if b.currency == currency]
    return (found[0].posted, found[0].pending, found[0].available) if found else (0, 0, 0)


def assert_ledger_consistent(db):
    """Cache == recomputation from entries; debits == credits per currency; nothing unbalanced."""
    with psycopg.connect(db.reader_dsn) as conn:
        cached = {(b.account, b.currency): (b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits)
                  for b in balances(conn)}
        recomputed = {(b.account, b.currency): (b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits)
                      for b in balances(conn, as_of=datetime(9999, 1, 1, tzinfo=UTC))}
        totals = conn.execute(
            "SELECT currency, sum(amount) FILTER (WHERE direction='debit'), sum(amount) FILTER (WHERE direction='credit') "
            "FROM ledger.entries GROUP BY currency"
        ).fetchall()
    assert {k: v for k, v in cached.items() if any(v)} == {k: v for k, v in recomputed.items() if any(v)}
    for currency, debits, credits in totals:
        assert debits == credits, currency


def test_every_event_gets_exactly_one_outcome_and_balances_follow(ledger_db):
    b = PlanBuilder()
    inv = b.post("inv-1", [("assets:receivables:s1", "debit", 1000, "USD"), ("revenue:subscriptions:pro", "credit", 1000, "USD")],
                 reference="invoice:1")
    pay = b.post("pay-1", [("assets:cash:in_transit", "debit", 700, "USD"), ("assets:receivables:s1", "credit", 700, "USD")],
                 status="pending", reference="payment:1")
    settle = b.move("settle-1", "posted", reference="payment:1", at=T0 + timedelta(days=2))
    pay2 = b.post("pay-2", [("assets:cash:in_transit", "debit", 300, "USD"), ("assets:receivables:s1", "credit", 300, "USD")],
                  status="pending", reference="payment:2")
    fail = b.move("fail-2", "archived", reference="payment:2", at=T0 + timedelta(days=3))
    result = run(ledger_db, b)

    assert result.outcomes.height == 5
    assert outcome(result, inv) == ("posted", None)
    assert outcome(result, pay) == ("pending", None)
    assert outcome(result, settle) == ("posted", None)
    assert outcome(result, pay2) == ("pending", None)
    assert outcome(result, fail) == ("posted", None)
    # receivables: +1000 invoice, -700 settled payment, failed payment gone.
    assert posted_balance(ledger_db, "assets:receivables:s1") == (300, 300, 300)
    assert posted_balance(ledger_db, "assets:cash:in_transit") == (700, 700, 700)
    assert_ledger_consistent(ledger_db)


def test_replaying_a_plan_is_all_duplicates_and_changed_content_is_a_conflict(ledger_db):
    def plan(amount):
        b = PlanBuilder()
        b.post("e1", [("assets:cash", "debit", amount, "USD"), ("equity:capital", "credit", amount, "USD")])
        b.post("e2", [("assets:cash", "debit", 5, "USD"), ("equity:capital", "credit", 5, "USD")], status="pending")
        b.move("e3", "posted", key="e2")
        return b

    first = run(ledger_db, plan(100))
    again = run(ledger_db, plan(100))
    assert again.counts() == {"posted": 0, "pending": 0, "duplicate": 3, "quarantined": 0}
    # The duplicate names the transaction that stands.
    assert again.outcomes["transaction_id"].to_list()[:2] == first.outcomes["transaction_id"].to_list()[:2]
    changed = run(ledger_db, plan(999))
    assert outcome(changed, 0) == ("quarantined", "event_id_conflict")
    assert outcome(changed, 1)[0] == "duplicate"
    assert posted_balance(ledger_db, "assets:cash") == (105, 105, 105)
    assert_ledger_consistent(ledger_db)


def test_the_same_key_twice_in_one_plan(ledger_db):
    b = PlanBuilder()
    legs = [("assets:cash", "debit", 10, "USD"), ("equity:capital", "credit", 10, "USD")]
    b.post("dup", legs, content="same")
    b.post("dup", legs, content="same")
    b.post("dup", [("assets:cash", "debit", 11, "USD"), ("equity:capital", "credit", 11, "USD")], content="other")
    result = run(ledger_db, b)
    assert [outcome(result, s)[0] for s in range(3)] == ["posted", "duplicate", "quarantined"]
    assert outcome(result, 2)[1] == "event_id_conflict"
    assert posted_balance(ledger_db, "assets:cash") == (10, 10, 10)


def test_conditions_are_decided_in_batch_order_as_if_posted_one_by_one(ledger_db):
    account = "liabilities:customer_credits:s9"
    moves = [("credit", 100), ("debit", 60), ("debit", 60), ("credit", 50), ("debit", 60), ("debit", 31), ("debit", 30)]
    b = PlanBuilder()
    for n, (direction, amount) in enumerate(moves):
        other = "debit" if direction == "credit" else "credit"
        guard = {"conditions": [("available", "gte", 0)]} if direction == "debit" else {}
        b.post(f"c{n}", [(account, direction, amount, "USD", guard), ("expenses:promotional_credits", other, amount, "USD")])
    result = run(ledger_db, b)

    # Independent replay: credit-normal, available = credits - debits (all posted).
    balance, expected = 0, []
    for direction, amount in moves:
        after = balance + (amount if direction == "credit" else -amount)
        ok = direction == "credit" or after >= 0
        expected.append("posted" if ok else "quarantined")
        balance = after if ok else balance
    assert [outcome(result, s)[0] for s in range(len(moves))] == expected
    assert all(outcome(result, s)[1] == "balance_condition_failed" for s, e in enumerate(expected) if e == "quarantined")
    assert posted_balance(ledger_db, account)[0] == balance
    assert_ledger_consistent(ledger_db)


def test_lock_versions_count_earlier_events_of_the_batch(ledger_db):
    b = PlanBuilder()
    b.post("v0", [("assets:wallet:w1", "debit", 10, "USD"), ("equity:capital", "credit", 10, "USD")])
    run(ledger_db, b)  # the wallet is now at version 1
    b = PlanBuilder()
    b.post("v1", [("assets:wallet:w1", "debit", 1, "USD", {"lock_version": 1}), ("equity:capital", "credit", 1, "USD")])
    b.post("v2", [("assets:wallet:w1", "debit", 1, "USD", {"lock_version": 1}), ("equity:capital", "credit", 1, "USD")])
    b.post("v3", [("assets:wallet:w1", "debit", 1, "USD", {"lock_version": 2}), ("equity:capital", "credit", 1, "USD")])
    result = run(ledger_db, b)
    assert [outcome(result, s) for s in range(3)] == [("posted", None), ("quarantined", "version_conflict"), ("posted", None)]
    assert posted_balance(ledger_db, "assets:wallet:w1")[0] == 12


def test_lifecycle_and_reversal_refusals(ledger_db):
    b = PlanBuilder()
    b.post("p1", [("assets:cash:in_transit", "debit", 50, "USD"), ("assets:receivables:s1", "credit", 50, "USD")],
           status="pending", reference="payment:p1")
    b.post("posted-1", [("assets:cash", "debit", 5, "USD"), ("revenue:other", "credit", 5, "USD")])
    run(ledger_db, b)

    b = PlanBuilder()
    unknown = b.move("m-unknown", "posted", reference="payment:nope")
    not_pending = b.move("m-posted", "archived", key="posted-1")
    first = b.move("m-first", "posted", reference="payment:p1")
    second = b.move("m-second", "archived", reference="payment:p1")
    rev_unknown = b.reverse("r-unknown", key="nope")
    rev_ok = b.reverse("r-ok", key="posted-1")
    rev_twice = b.reverse("r-twice", key="posted-1")
    result = run(ledger_db, b)
    assert outcome(result, unknown) == ("quarantined", "unknown_target")
    assert outcome(result, not_pending) == ("quarantined", "invalid_transition")
    assert outcome(result, first) == ("posted", None)
    assert outcome(result, second) == ("quarantined", "invalid_transition")
    assert outcome(result, rev_unknown) == ("quarantined", "unknown_target")
    assert outcome(result, rev_ok) == ("posted", None)
    assert outcome(result, rev_twice) == ("quarantined", "invalid_transition")
    assert posted_balance(ledger_db, "assets:cash") == (0, 0, 0)
    assert posted_balance(ledger_db, "assets:cash:in_transit") == (50, 50, 50)
    assert_ledger_consistent(ledger_db)

    b = PlanBuilder()
    b.reverse("r-pending", key="p2-pending-target")
    b.post("p2-pending-target", [("assets:cash", "debit", 5, "USD"), ("revenue:other", "credit", 5, "USD")], status="pending")
    result = run(ledger_db, b)
    assert outcome(result, 0) == ("quarantined", "invalid_transition")  # a pending one is archived, not reversed


def account_lock_version(db, code):
    with psycopg.connect(db.reader_dsn) as conn:
        return conn.execute("SELECT ledger.lock_version(account_id) FROM ledger.accounts WHERE code = %s", [code]).fetchone()[0]


def spend(key, account, amount):
    """A journal that takes ``amount`` out of ``account`` only if its available balance stays >= 0."""
    return key, [(account, "credit", amount, "USD", {"conditions": [("available", "gte", 0)]}),
                 ("expenses:spend", "debit", amount, "USD")]


@pytest.mark.parametrize("reversal_first", [True, False])
def test_a_condition_sees_a_reversal_earlier_in_the_file(ledger_db, reversal_first):
    """File order decides, moves and reversals included: the batch is judged as if applied event by event."""
    b = PlanBuilder()
    b.post("fund", [("assets:wallet:r1", "debit", 100, "USD"), ("equity:capital", "credit", 100, "USD")])
    run(ledger_db, b)
    b = PlanBuilder()
    if reversal_first:
        reversal = b.reverse("undo-fund", key="fund")
        spent = b.post(*spend("spend", "assets:wallet:r1", 100))
    else:
        spent = b.post(*spend("spend", "assets:wallet:r1", 100))
        reversal = b.reverse("undo-fund", key="fund")
    result = run(ledger_db, b)
    assert outcome(result, reversal) == ("posted", None)
    if reversal_first:  # the reversal took the 100 out first: spending it would go below zero
        assert outcome(result, spent) == ("quarantined", "balance_condition_failed")
        assert posted_balance(ledger_db, "assets:wallet:r1") == (0, 0, 0)
    else:  # the spend came first and was within the balance; a reversal carries no condition
        assert outcome(result, spent) == ("posted", None)
        assert posted_balance(ledger_db, "assets:wallet:r1") == (-100, -100, -100)
    assert_ledger_consistent(ledger_db)


@pytest.mark.parametrize("archive_first", [True, False])
def test_a_condition_sees_a_pending_hold_released_earlier_in_the_file(ledger_db, archive_first):
    credits = "liabilities:customer_credits:h1"
    b = PlanBuilder()
    b.post("grant", [("expenses:promotional_credits", "debit", 100, "USD"), (credits, "credit", 100, "USD")])
    b.post("hold", [(credits, "debit", 80, "USD"), ("revenue:other", "credit", 80, "USD")], status="pending")
    run(ledger_db, b)
    assert posted_balance(ledger_db, credits) == (100, 20, 20)  # posted, pending, available

    use = ("use", [(credits, "debit", 50, "USD", {"conditions": [("available", "gte", 0)]}),
                   ("revenue:other", "credit", 50, "USD")])
    b = PlanBuilder()
    if archive_first:
        release = b.move("release", "archived", key="hold")
        used = b.post(*use)
    else:
        used = b.post(*use)
        release = b.move("release", "archived", key="hold")
    result = run(ledger_db, b)
    assert outcome(result, release) == ("posted", None)
    if archive_first:  # the hold is gone: 100 available, 50 used
        assert outcome(result, used) == ("posted", None)
        assert posted_balance(ledger_db, credits) == (50, 50, 50)
    else:  # only 20 was available when the use came
        assert outcome(result, used) == ("quarantined", "balance_condition_failed")
        assert posted_balance(ledger_db, credits) == (100, 100, 100)
    assert_ledger_consistent(ledger_db)


def test_lock_versions_count_the_moves_and_reversals_earlier_in_the_file(ledger_db):
    wallet = "assets:wallet:v9"
    b = PlanBuilder()
    b.post("pay", [(wallet, "debit", 10, "USD"), ("equity:capital", "credit", 10, "USD")], status="pending")
    b.post("top-up", [(wallet, "debit", 5, "USD"), ("equity:capital", "credit", 5, "USD")])
    run(ledger_db, b)
    assert account_lock_version(ledger_db, wallet) == 2

    b = PlanBuilder()
    b.move("settle", "posted", key="pay")  # carries 1 entry of the wallet: version 3
    stale = b.post("stale", [(wallet, "debit", 1, "USD", {"lock_version": 2}), ("equity:capital", "credit", 1, "USD")])
    fresh = b.post("fresh", [(wallet, "debit", 1, "USD", {"lock_version": 3}), ("equity:capital", "credit", 1, "USD")])
    b.reverse("undo-top-up", key="top-up")  # posts 1 entry on the wallet: version 5
    after = b.post("after", [(wallet, "debit", 1, "USD", {"lock_version": 5}), ("equity:capital", "credit", 1, "USD")])
    result = run(ledger_db, b)
    assert outcome(result, stale) == ("quarantined", "version_conflict")
    assert outcome(result, fresh) == ("posted", None)
    assert outcome(result, after) == ("posted", None)
    # The database's own count agrees with the replay: 2 + move 1 + fresh 1 + reversal 1 + after 1.
    assert account_lock_version(ledger_db, wallet) == 6
    assert posted_balance(ledger_db, wallet)[0] == 10 + 5 + 1 - 5 + 1
    assert_ledger_consistent(ledger_db)


def test_a_lock_version_counts_the_other_currencies_earlier_in_the_file(ledger_db):
    """The lock_version a leg checks is the account's, over all its currencies (ledger.lock_version):
    an EUR posting earlier in the file makes a USD leg's version stale, as it does for Ledger.post."""
    wallet = "assets:wallet:v10"
    b = PlanBuilder()
    b.post("usd", [(wallet, "debit", 10, "USD"), ("equity:capital", "credit", 10, "USD")])
    b.post("eur", [(wallet, "debit", 10, "EUR"), ("equity:capital", "credit", 10, "EUR")])
    run(ledger_db, b)
    assert account_lock_version(ledger_db, wallet) == 2

    b = PlanBuilder()
    b.post("eur-2", [(wallet, "debit", 1, "EUR"), ("equity:capital", "credit", 1, "EUR")])  # version 3
    stale = b.post("stale", [(wallet, "debit", 1, "USD", {"lock_version": 2}), ("equity:capital", "credit", 1, "USD")])
    fresh = b.post("fresh", [(wallet, "debit", 1, "USD", {"lock_version": 3}), ("equity:capital", "credit", 1, "USD")])
    result = run(ledger_db, b)
    assert outcome(result, stale) == ("quarantined", "version_conflict")
    assert outcome(result, fresh) == ("posted", None)
    assert account_lock_version(ledger_db, wallet) == 4
    assert_ledger_consistent(ledger_db)


def test_reversing_a_reversal_of_the_same_file_is_refused_with_what_to_do_and_works_later(ledger_db):
    b = PlanBuilder()
    b.post("j", [("assets:cash", "debit", 30, "USD"), ("revenue:other", "credit", 30, "USD")])
    first = b.reverse("undo-j", key="j")
    second = b.reverse("undo-undo-j", key="undo-j")
    result = run(ledger_db, b)
    assert outcome(result, first) == ("posted", None)
    assert outcome(result, second) == ("quarantined", "invalid_transition")
    assert "later file" in result.outcomes.filter(pl.col("seq") == second)["message"][0]
    b = PlanBuilder()
    b.reverse("undo-undo-j", key="undo-j")
    assert outcome(run(ledger_db, b), 0) == ("posted", None)
    assert posted_balance(ledger_db, "assets:cash") == (30, 30, 30)
    assert_ledger_consistent(ledger_db)


def test_a_reference_posted_again_by_another_event_is_a_reference_conflict(ledger_db):
    """A business reference names one thing for the life of the ledger (contract ruling, December 2026):
    reusing it under another key is refused, in the ledger or in the batch, and the first one stands."""
    pay = [("assets:cash:in_transit", "debit", 50, "USD"), ("assets:receivables:s1", "credit", 50, "USD")]
    b = PlanBuilder()
    b.post("pay-1", pay, status="pending", reference="payment:p1")
    b.move("settle-1", "posted", reference="payment:p1")
    run(ledger_db, b)
    b = PlanBuilder()
    again = b.post("pay-1-again", pay, status="pending", reference="payment:p1")  # the producer reused the id
    settle = b.move("settle-2", "posted", reference="payment:p1")
    fresh = b.post("pay-2", pay, status="pending", reference="payment:p2")
    twice = b.post("pay-2-twice", pay, status="pending", reference="payment:p2")
    result = run(ledger_db, b)
    assert outcome(result, again) == ("quarantined", "reference_conflict")
    assert "payment:p1 already names ledger transaction" in result.outcomes.filter(pl.col("seq") == again)["message"][0]
    assert outcome(result, settle) == ("quarantined", "invalid_transition")  # payment:p1 is the settled pay-1
    assert outcome(result, fresh) == ("pending", None)
    assert outcome(result, twice) == ("quarantined", "reference_conflict")
    with psycopg.connect(ledger_db.reader_dsn) as conn:
        statuses = conn.execute("SELECT idempotency_key, status FROM ledger.transactions WHERE reference LIKE 'payment:%' "
                                "ORDER BY idempotency_key").fetchall()
    assert statuses == [("pay-1", "posted"), ("pay-2", "pending")]
    assert_ledger_consistent(ledger_db)


def test_a_refused_posting_takes_its_dependents_with_it(ledger_db):
    b = PlanBuilder()
    b.post("hold", [("liabilities:customer_credits:s2", "debit", 10, "USD", {"conditions": [("available", "gte", 0)]}),
                    ("assets:receivables:s2", "credit", 10, "USD")], status="pending")
    b.move("settle-hold", "posted", key="hold")
    result = run(ledger_db, b)
    assert outcome(result, 0) == ("quarantined", "balance_condition_failed")
    assert outcome(result, 1) == ("quarantined", "unknown_target")


def test_corrections_chain_inside_one_batch_and_are_audited(ledger_db):
    b = PlanBuilder()
    b.post("u1", [("assets:receivables:s1", "debit", 300, "USD"), ("revenue:usage:api", "credit", 300, "USD")], reference="usage:u1")
    b.correct("c1", "usage:u1", [("assets:receivables:s1", "debit", 200, "USD"), ("revenue:usage:api", "credit", 200, "USD")])
    b.correct("c2", "usage:u1", [("assets:receivables:s1", "debit", 120, "USD"), ("revenue:usage:api", "credit", 120, "USD")])
    b.correct("c3", "usage:missing", [("assets:receivables:s1", "debit", 1, "USD"), ("revenue:usage:api", "credit", 1, "USD")])
    result = run(ledger_db, b)
    assert [outcome(result, s)[0] for s in range(4)] == ["posted", "posted", "posted", "quarantined"]
    assert outcome(result, 3)[1] == "unknown_target"
    # Only the last replacement counts; the refused correction wrote neither half.
    assert posted_balance(ledger_db, "revenue:usage:api") == (120, 120, 120)
    with psycopg.connect(ledger_db.reader_dsn) as conn:
        audit = conn.execute(
            "SELECT after->>'event_id', after->>'replacement_transaction_id' IS NOT NULL FROM ledger.audit_log "
            "WHERE action = 'transaction.corrected' ORDER BY at"
        ).fetchall()
        keys = {r[0] for r in conn.execute("SELECT idempotency_key FROM ledger.transactions").fetchall()}
    assert audit == [("c1", True), ("c2", True)]
    assert "c3" not in keys and "c3\x1freversal" not in keys
    assert_ledger_consistent(ledger_db)


def test_closed_periods_refuse_events_dated_inside_them(ledger_db):
    with psycopg.connect(ledger_db.writer_dsn) as conn:
        conn.execute(
            "INSERT INTO ledger.period_closures (period, action, starts_at, ends_at, timezone) "
            "VALUES ('2024-01', 'close', '2024-01-01T00:00Z', '2024-02-01T00:00Z', 'UTC')"
        )
    b = PlanBuilder()
    inside = b.post("in-jan", [("assets:cash", "debit", 1, "USD"), ("equity:capital", "credit", 1, "USD")], at=T0 + timedelta(days=3))
    after = b.post("in-feb", [("assets:cash", "debit", 2, "USD"), ("equity:capital", "credit", 2, "USD")], at=T0 + timedelta(days=40))
    result = run(ledger_db, b)
    assert outcome(result, inside) == ("quarantined", "period_closed")
    assert outcome(result, after) == ("posted", None)


def test_sums_beyond_64_bits_are_refused_per_event(ledger_db):
    big = 2**62
    b = PlanBuilder()
    for n in range(3):
        b.post(f"big{n}", [("assets:vault", "debit", big, "USD"), ("equity:capital", "credit", big, "USD")])
    result = run(ledger_db, b)
    # 2 * 2^62 = 2^63 > INT64_MAX: the second and third would overflow the cached sums.
    assert [outcome(result, s) for s in range(3)] == [
        ("posted", None), ("quarantined", "amount_out_of_range"), ("quarantined", "amount_out_of_range")
    ]
    assert_ledger_consistent(ledger_db)


def test_accounts_the_ledger_cannot_hold_are_refused_per_event(ledger_db):
    with psycopg.connect(ledger_db.dsn) as conn:
        conn.execute(
            "INSERT INTO ledger.accounts (account_id, code, normal_balance, currency) "
            "VALUES (ledger.account_id_of('assets:bank:eur'), 'assets:bank:eur', 'debit', 'EUR')"
        )
    b = PlanBuilder()
    unknown_type = b.post("x1", [("nonsense:a", "debit", 1, "USD"), ("equity:capital", "credit", 1, "USD")])
    wrong_currency = b.post("x2", [("assets:bank:eur", "debit", 1, "USD"), ("equity:capital", "credit", 1, "USD")])
    fine = b.post("x3", [("assets:bank:eur", "debit", 1, "EUR"), ("equity:capital", "credit", 1, "EUR")])
    invisible_twin = b.post("x4", [("assets:bank:e\u200bur", "debit", 1, "EUR"), ("equity:capital", "credit", 1, "EUR")])
    result = run(ledger_db, b)
    assert outcome(result, invisible_twin) == ("quarantined", "invalid_account")
    assert outcome(result, unknown_type) == ("quarantined", "invalid_account")
    assert outcome(result, wrong_currency) == ("quarantined", "invalid_account")
    assert outcome(result, fine) == ("posted", None)
    assert "EUR" in result.outcomes.filter(pl.col("seq") == wrong_currency)["message"][0]


def test_a_plan_that_fails_in_the_database_writes_nothing(ledger_db):
    """Atomicity of the whole batch: break the transaction after apply_plan; nothing remains."""
    b = PlanBuilder()
    b.post("a1", [("assets:cash", "debit", 1, "USD"), ("equity:capital", "credit", 1, "USD")])
    with psycopg.connect(ledger_db.writer_dsn) as conn:
        with pytest.raises(RuntimeError), conn.transaction():
            apply_plan(conn, b.build(), batch_id=str(uuid.uuid4()), account_types=ACCOUNT_TYPES)
            raise RuntimeError("crash after the COPY, before commit")
        assert conn.execute("SELECT count(*) FROM ledger.transactions").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM ledger.balances WHERE version > 0").fetchone()[0] == 0
