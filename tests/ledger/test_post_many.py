"""Ledger.post_many / ledger.post_many: several postings in one call and one database transaction,
each with its own outcome -- a refused posting writes nothing and does not take the others down,
idempotency holds per posting, and a hot account under concurrent batches keeps ``available >= 0``
with nothing lost.
"""

from __future__ import annotations

import random

import psycopg
from psycopg.types.json import Jsonb

from ledger_pipelines.accounting.errors import BalanceConditionFailed, IdempotencyConflict, LedgerError, VersionConflict
from ledger_pipelines.ledger import balances as reads
from ledger_pipelines.ledger.model import PostedTransaction
from ledger_pipelines.ledger.posting import _POST_CALL, MAX_BATCH, _json_params
from ledger_pipelines.postgres.database import connect
from tests.ledger.helpers_ledger import open_ledger, transfer
from tests.ledger.helpers_sql import attempt
from tests.ledger.test_concurrency import assert_cache_matches_entries, run_threads

PERMISSION_DENIED = "42501"
GUARD = [("available", "gte", 0)]


def spend(key: str, amount: int, wallet: str = "assets:wallet") -> object:
    return transfer(key, "expenses:spend", wallet, amount, credit_conditions=GUARD)


def keys_in_ledger(dsn: str, like: str) -> set[str]:
    with connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT idempotency_key FROM ledger.transactions WHERE idempotency_key LIKE %s",
                                           [like])}


def test_a_refused_posting_writes_nothing_and_the_others_go_on(ledger_db):
    ledger = open_ledger(ledger_db.writer_dsn)
    ledger.post(transfer("fund", "assets:wallet", "equity:capital", 100))
    outcomes = ledger.post_many([spend("s1", 40), spend("s2", 40), spend("s3", 40), spend("s4", 20),
                                 transfer("s5", "assets:wallet", "equity:capital", 5, credit_version=999)])
    assert [type(o) for o in outcomes] == [PostedTransaction, PostedTransaction, BalanceConditionFailed,
                                           PostedTransaction, VersionConflict]
    refused = outcomes[2]
    assert (refused.failures[0].account, refused.failures[0].actual) == ("assets:wallet", -20)
    assert refused.sqlstate == "LDG18"
    assert outcomes[4].mismatches[0].expected == 999
    # each posting's balances are the account's right after it, the ones before it in the call included
    assert [b.posted for o in (outcomes[0], outcomes[1], outcomes[3]) for b in o.balances if b.account == "assets:wallet"] \
        == [60, 20, 0]
    assert keys_in_ledger(ledger_db.reader_dsn, "s%") == {"s1", "s2", "s4"}
    with connect(ledger_db.reader_dsn) as conn:
        assert reads.balance(conn, "assets:wallet", "USD").available == 0
    assert_cache_matches_entries(ledger_db)


def test_idempotency_holds_per_posting_within_and_across_calls(ledger_db):
    ledger = open_ledger(ledger_db.writer_dsn)
    ledger.post(transfer("fund", "assets:wallet", "equity:capital", 100))
    first = ledger.post_many([spend("k1", 10), spend("k1", 10), spend("k1", 11)])
    assert [o.created if isinstance(o, PostedTransaction) else type(o) for o in first] == [True, False, IdempotencyConflict]
    assert first[0].transaction_id == first[1].transaction_id
    again = ledger.post_many([spend("k1", 10), spend("k2", 10)])
    assert [o.created for o in again] == [False, True]
    assert again[0].transaction_id == first[0].transaction_id
    with connect(ledger_db.reader_dsn) as conn:
        assert reads.balance(conn, "assets:wallet", "USD").posted == 80


def test_a_long_list_is_split_into_calls_and_keeps_its_order(ledger_db):
    ledger = open_ledger(ledger_db.writer_dsn)
    txs = [transfer(f"n{i}", "assets:cash", "revenue:sales", i + 1) for i in range(MAX_BATCH + 6)]
    outcomes = ledger.post_many(txs)
    assert [o.idempotency_key for o in outcomes] == [tx.idempotency_key for tx in txs]
    assert all(o.created for o in outcomes)
    with connect(ledger_db.reader_dsn) as conn:
        assert reads.balance(conn, "assets:cash", "USD").posted == sum(range(1, MAX_BATCH + 7))
    assert ledger.post_many([]) == []


def test_the_reader_cannot_call_post_many_and_the_writer_goes_through_every_check(ledger_db):
    unbalanced = ('SELECT * FROM ledger.post_many(\'[{"transaction_id": "00000000-0000-7000-8000-000000000001", '
                  '"idempotency_key": "u", "status": "posted", "effective_at": "2024-01-01T00:00:00Z", "content_hash": "h", '
                  '"accounts": ["assets:cash", "equity:capital"], "directions": ["debit", "credit"], '
                  '"amounts": [100, 99], "currencies": ["USD", "USD"]}]\')')
    assert attempt(ledger_db.reader_dsn, unbalanced).sqlstate == PERMISSION_DENIED
    with connect(ledger_db.writer_dsn) as conn:
        row = conn.execute(unbalanced).fetchone()
    assert row[-4] == "LDG01"
    assert keys_in_ledger(ledger_db.reader_dsn, "u") == set()
    assert attempt(ledger_db.writer_dsn, "SELECT * FROM ledger.post_many('{}')").sqlstate == "LDG05"


def test_concurrent_batches_on_one_hot_account_never_take_it_below_zero_and_lose_nothing(ledger_db):
    funding = 2000
    setup = open_ledger(ledger_db.writer_dsn)
    setup.post(transfer("fund", "assets:wallet", "equity:capital", funding))
    setup.conn.close()

    def writer(i, barrier):
        rng = random.Random(i)
        ledger = open_ledger(ledger_db.writer_dsn, actor=f"writer-{i}")
        accepted, refused, other = [], [], []
        barrier.wait()
        for round_ in range(4):
            txs = [spend(f"b{i}-{round_}-{n}", rng.randint(5, 50)) for n in range(rng.randint(1, 12))]
            for tx, outcome in zip(txs, ledger.post_many(txs), strict=True):
                amount = tx.legs[0].amount
                if isinstance(outcome, PostedTransaction) and outcome.created:
                    accepted.append((tx.idempotency_key, amount))
                elif isinstance(outcome, BalanceConditionFailed):
                    refused.append(outcome.failures[0].actual)
                else:
                    other.append(outcome)
        ledger.conn.close()
        return accepted, refused, other

    results = run_threads(8, writer)
    assert not [r for r in results if isinstance(r, Exception)], results
    accepted = [a for r in results for a in r[0]]
    refused = [x for r in results for x in r[1]]
    assert [x for r in results for x in r[2]] == []
    assert accepted and refused, "the test must reach the bound"
    assert all(actual < 0 for actual in refused)  # refused only when it would really have gone below zero
    with connect(ledger_db.reader_dsn) as conn:
        balance = reads.balance(conn, "assets:wallet", "USD")
    assert balance.available == funding - sum(a for _, a in accepted) >= 0
    assert keys_in_ledger(ledger_db.reader_dsn, "b%") == {k for k, _ in accepted}
    assert_cache_matches_entries(ledger_db)


def test_an_unmapped_refusal_keeps_the_databases_words(ledger_db):
    ledger = open_ledger(ledger_db.writer_dsn)
    outcome, = ledger.post_many([transfer("big", "assets:cash", "revenue:sales", 2**63 - 1)])
    assert isinstance(outcome, PostedTransaction)
    overflow, = ledger.post_many([transfer("bigger", "assets:cash", "revenue:sales", 2**63 - 1)])
    assert type(overflow) is LedgerError and overflow.sqlstate == "22003"
    assert "out of range" in str(overflow)


def test_a_call_writes_each_balance_once_and_answers_as_if_posting_one_at_a_time(ledger_db):
    """ledger.post_many keeps its postings' running sums (ledger.batch_balance_deltas) and updates
    each balance row once, at its end: a hot account's row gets one new version per call. What each
    posting answers (the four sums, versions, lock_versions, a refusal's actual balance) is what one
    Ledger.post at a time answers for the same postings on an account of its own."""
    ledger = open_ledger(ledger_db.writer_dsn)
    postings = {}
    for prefix in "abc":
        ledger.post(transfer(f"{prefix}-fund", f"assets:{prefix}_wallet", "equity:capital", 100))
        postings[prefix] = [spend(f"{prefix}{n}", amount, f"assets:{prefix}_wallet") for n, amount in enumerate([30, 50, 40, 20])]
        postings[prefix].append(transfer(f"{prefix}-in", f"assets:{prefix}_wallet", "equity:capital", 7))

    def answers(outcomes, prefix):
        wallet = f"assets:{prefix}_wallet"
        return [[(f.account == wallet, f.actual) for f in o.failures] if isinstance(o, BalanceConditionFailed)
                else [(b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits, b.version, b.lock_version)
                      for b in o.balances if b.account == wallet] for o in outcomes]

    expected = []
    for tx in postings["a"]:
        try:
            expected.append(ledger.post(tx))
        except BalanceConditionFailed as refused:
            expected.append(refused)
    outcomes = ledger.post_many(postings["b"])
    assert [type(o) for o in outcomes] == [PostedTransaction, PostedTransaction, BalanceConditionFailed,
                                           PostedTransaction, PostedTransaction]
    assert answers(outcomes, "b") == answers(expected, "a")

    # The same call inside one database transaction, whose own count of updated balance rows shows
    # the wallet's, expenses' and equity's rows written once each: three updates for four written
    # postings of two legs (eight, one posting at a time).
    calls = Jsonb([_json_params(ledger._post_params(tx, None)) for tx in postings["c"]])
    with connect(ledger_db.writer_dsn) as conn:
        rows = conn.execute("SELECT refusal_sqlstate FROM ledger.post_many(%s)", [calls]).fetchall()
        updates = conn.execute("SELECT pg_stat_get_xact_tuples_updated('ledger.balances'::regclass)").fetchone()[0]
        conn.commit()
    assert [r[0] for r in rows] == [None, None, "LDG18", None, None]
    assert updates == 3
    with connect(ledger_db.dsn) as owner:
        assert owner.execute("SELECT count(*) FROM ledger.batch_balance_deltas").fetchone()[0] == 0
    with connect(ledger_db.reader_dsn) as conn:
        for prefix in "abc":
            assert reads.balance(conn, f"assets:{prefix}_wallet", "USD").posted == 100 - 30 - 50 - 20 + 7
    assert_cache_matches_entries(ledger_db)


def test_a_writer_cannot_make_a_posting_leave_its_balance_unwritten(ledger_db):
    """The hint that a call is inside post_many is a setting anyone can make; what defers a balance
    is a row of ledger.batch_balance_deltas, which the writer can neither add nor see."""
    ledger = open_ledger(ledger_db.writer_dsn)
    ledger.post(transfer("fund", "assets:wallet", "equity:capital", 100))
    forged = "INSERT INTO ledger.batch_balance_deltas VALUES (pg_current_xact_id(), gen_random_uuid(), 'USD', 0, 0, 0, 0, 0)"
    assert attempt(ledger_db.writer_dsn, forged).sqlstate == PERMISSION_DENIED
    assert attempt(ledger_db.writer_dsn, "SELECT count(*) FROM ledger.batch_balance_deltas").sqlstate == PERMISSION_DENIED
    with connect(ledger_db.writer_dsn) as conn:
        conn.execute("SELECT set_config('subledger.batch_call', 'on', true)")
        row = psycopg.RawCursor(conn).execute(_POST_CALL.text, ledger._post_arguments(spend("hinted", 30), None)).fetchone()
        conn.commit()
    wallet = row[3].index("assets:wallet")  # created, and the wallet's balance right after it, written
    assert row[2] is True and (row[6][wallet], row[7][wallet]) == (100, 30)
    with connect(ledger_db.reader_dsn) as conn:
        assert reads.balance(conn, "assets:wallet", "USD").posted == 70
    assert_cache_matches_entries(ledger_db)
