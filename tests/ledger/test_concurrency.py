"""Guarantees under real concurrency: threads and processes, each with its own connection.

* balance conditions hold with 10 writers debiting one account (available >= 0), nothing lost;
* the same idempotency key posted concurrently creates exactly one transaction;
* concurrent writers with the same lock_version: exactly one wins per version, also when they post
  in different currencies of the account (its lock_version sums the balances of all of them);
* concurrent lifecycle moves and reversals of one transaction: exactly one happens;
* two processes applying overlapping bulk plans post every event exactly once.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from ledger_pipelines.accounting.errors import BalanceConditionFailed, InvalidTransition, VersionConflict
from ledger_pipelines.ledger import balances as reads
from ledger_pipelines.postgres.database import connect
from tests.ledger.helpers_bulk import apply_range, event_spec
from tests.ledger.helpers_ledger import FAR_FUTURE, T0, open_ledger, transfer

WRITERS = 10


def run_threads(n: int, work) -> list:
    """Run ``work(i, barrier)`` in ``n`` threads released together; return results (or exceptions)."""
    barrier = threading.Barrier(n)

    def guarded(i):
        try:
            return work(i, barrier)
        except Exception as exc:  # collected and asserted on by the caller
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(guarded, range(n)))


def assert_cache_matches_entries(db):
    with connect(db.reader_dsn) as conn:
        cached = {(b.account, b.currency): (b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits)
                  for b in reads.balances(conn)}
        recomputed = {(b.account, b.currency): (b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits)
                      for b in reads.balances(conn, as_of=FAR_FUTURE)}
        unbalanced = conn.execute(
            "SELECT currency FROM ledger.entries GROUP BY currency "
            "HAVING sum(amount) FILTER (WHERE direction = 'debit') <> sum(amount) FILTER (WHERE direction = 'credit')"
        ).fetchall()
    assert {k: v for k, v in cached.items() if any(v)} == {k: v for k, v in recomputed.items() if any(v)}
    assert unbalanced == []


@pytest.mark.parametrize("account", ["liabilities:wallet:hot", "assets:cash:hot"])
def test_concurrent_debits_never_take_available_below_zero_and_lose_nothing(ledger_db, account):
    funding = 1000
    normal_debit = account.startswith("assets")
    setup = open_ledger(ledger_db.writer_dsn)
    setup.post(transfer("fund", account, "equity:capital", funding) if normal_debit
               else transfer("fund", "assets:bank", account, funding))
    setup.conn.close()

    stop = threading.Event()
    observed = []

    def watch():
        with connect(ledger_db.reader_dsn) as conn:
            while not stop.is_set():
                b = reads.balance(conn, account, "USD")
                observed.append((b.posted, b.available))

    watcher = threading.Thread(target=watch)
    watcher.start()

    def writer(i, barrier):
        rng = random.Random(i)
        ledger = open_ledger(ledger_db.writer_dsn, actor=f"writer-{i}")
        accepted, refused, other = [], [], []
        barrier.wait()
        for n in range(15):
            amount = rng.randint(5, 50)
            status = "pending" if rng.random() < 0.3 else "posted"
            key = f"w{i}-{n}"
            # an outflow: a credit on a debit-normal account, a debit on a credit-normal one
            tx = (transfer(key, "expenses:spend", account, amount, status=status, credit_conditions=[("available", "gte", 0)])
                  if normal_debit else
                  transfer(key, account, "revenue:spend", amount, status=status, debit_conditions=[("available", "gte", 0)]))
            try:
                ledger.post(tx)
                accepted.append((key, amount, status))
            except BalanceConditionFailed as exc:
                refused.append((key, exc.failures[0].actual))
            except Exception as exc:  # anything else is a failure of the test
                other.append(exc)
        ledger.conn.close()
        return accepted, refused, other

    try:
        results = run_threads(WRITERS, writer)
    finally:
        stop.set()
        watcher.join()
    assert not [r for r in results if isinstance(r, Exception)], results
    accepted = [a for r in results for a in r[0]]
    refused = [x for r in results for x in r[1]]
    others = [x for r in results for x in r[2]]
    assert others == []
    assert accepted and refused, "the test must reach the bound"
    assert len(accepted) + len(refused) == WRITERS * 15
    # a refusal is only ever for a write that would really have gone below zero
    assert all(actual < 0 for _, actual in refused)

    spent_posted = sum(a for _, a, s in accepted if s == "posted")
    spent_all = sum(a for _, a, _ in accepted)
    with connect(ledger_db.reader_dsn) as conn:
        b = reads.balance(conn, account, "USD")
        keys = {r[0] for r in conn.execute("SELECT idempotency_key FROM ledger.transactions WHERE idempotency_key LIKE 'w%%'")}
    assert (b.posted, b.available) == (funding - spent_posted, funding - spent_all)
    assert b.available >= 0
    assert keys == {k for k, _, _ in accepted}  # every accepted write is in the ledger, nothing else
    assert observed and min(avail for _, avail in observed) >= 0
    assert_cache_matches_entries(ledger_db)


def test_the_same_idempotency_key_posted_concurrently_creates_one_transaction(ledger_db):
    for round_ in range(3):
        # new accounts each round: the first posting also creates them, concurrently
        tx = transfer(f"same-{round_}", f"assets:cash:r{round_}", f"revenue:sales:r{round_}", 100 + round_)

        def work(i, barrier, tx=tx):
            ledger = open_ledger(ledger_db.writer_dsn)
            barrier.wait()
            try:
                return ledger.post(tx)
            finally:
                ledger.conn.close()

        results = run_threads(8, work)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert sorted(r.created for r in results) == [False] * 7 + [True]
        assert len({r.transaction_id for r in results}) == 1
        with connect(ledger_db.reader_dsn) as conn:
            assert reads.balance(conn, f"assets:cash:r{round_}", "USD").posted == 100 + round_
    assert_cache_matches_entries(ledger_db)


def assert_one_winner(ledger_db, results: list, version: int):
    """Writers that all checked ``version`` of assets:cash: exactly one posted, every other one was
    refused with the version the winner made, and the account is now at that version. The winner."""
    winners = [r for r in results if not isinstance(r, Exception)]
    conflicts = [r for r in results if isinstance(r, VersionConflict)]
    assert len(winners) == 1 and len(conflicts) == len(results) - 1, results
    assert all(c.mismatches[0].expected == version and c.mismatches[0].actual == version + 1 for c in conflicts)
    with connect(ledger_db.reader_dsn) as conn:
        assert reads.get_account(conn, "assets:cash").lock_version == version + 1
    return winners[0]


def test_concurrent_writers_with_the_same_lock_version_exactly_one_wins(ledger_db):
    setup = open_ledger(ledger_db.writer_dsn)
    setup.post(transfer("fund", "assets:cash", "equity:capital", 10_000))
    setup.conn.close()
    for round_ in range(4):
        with connect(ledger_db.reader_dsn) as conn:
            version = reads.get_account(conn, "assets:cash").lock_version

        def work(i, barrier, round_=round_, version=version):
            ledger = open_ledger(ledger_db.writer_dsn)
            barrier.wait()
            try:
                return ledger.post(transfer(f"v{round_}-{i}", "expenses:x", "assets:cash", 10 + i, credit_version=version))
            finally:
                ledger.conn.close()

        assert_one_winner(ledger_db, run_threads(8, work), version)
    with connect(ledger_db.reader_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM ledger.transactions WHERE idempotency_key LIKE 'v%%'").fetchone()[0] == 4
    assert_cache_matches_entries(ledger_db)


@pytest.mark.parametrize("batched", [False, True])
def test_writers_in_different_currencies_with_the_same_lock_version_exactly_one_wins(ledger_db, batched):
    """An account's lock_version is the sum of its balances' versions (ledger.lock_version). A check
    locks every balance row of the account, so a writer in EUR cannot pass its check while one in
    USD, which checked the same version, has not committed: exactly one of them wins per version.
    (Locking only the leg's own balance row would let one winner per currency through.)"""
    setup = open_ledger(ledger_db.writer_dsn)
    for currency in ("USD", "EUR", "JPY"):
        setup.post(transfer(f"fund-{currency}", "assets:cash", "equity:capital", 10_000, currency))
    setup.conn.close()
    for round_ in range(3):
        with connect(ledger_db.reader_dsn) as conn:
            version = reads.get_account(conn, "assets:cash").lock_version

        def work(i, barrier, round_=round_, version=version):
            ledger = open_ledger(ledger_db.writer_dsn)
            tx = transfer(f"c{round_}-{i}", "expenses:x", "assets:cash", 10 + i, ("USD", "EUR", "JPY")[i % 3],
                          credit_version=version)
            barrier.wait()
            try:
                if not batched:
                    return ledger.post(tx)
                (outcome,) = ledger.post_many([tx])
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome
            finally:
                ledger.conn.close()

        winner = assert_one_winner(ledger_db, run_threads(9, work), version)
        assert {b.account: b.lock_version for b in winner.balances}["assets:cash"] == version + 1
    assert_cache_matches_entries(ledger_db)


@pytest.mark.parametrize("batched", [False, True])
def test_a_lock_version_check_holds_off_a_posting_in_another_currency_until_it_commits(ledger_db, batched):
    """Deterministic form of the test above: a USD posting that checked the account's lock_version
    holds its transaction open; an EUR posting checking the same version waits for it (every balance
    row of the account is locked by a check) and is then refused, with the version the first made.
    (Both legs on accounts that exist, in a month that has its partition: nothing else makes the
    second wait.)"""
    setup = open_ledger(ledger_db.writer_dsn)
    for currency in ("USD", "EUR"):
        setup.post(transfer(f"fund-{currency}", "assets:cash", "equity:capital", 1_000, currency))
    setup.conn.close()
    with connect(ledger_db.reader_dsn) as conn:
        version = reads.get_account(conn, "assets:cash").lock_version

    first = psycopg.connect(ledger_db.writer_dsn)  # not autocommit: its transaction stays open
    first.execute(
        "SELECT * FROM ledger.post_transaction(p_transaction_id => gen_random_uuid(), p_idempotency_key => 'first', "
        "p_status => 'posted', p_effective_at => %s, p_content_hash => 'first', "
        "p_accounts => ARRAY['equity:capital', 'assets:cash'], p_directions => ARRAY['debit', 'credit'], "
        "p_amounts => ARRAY[5, 5]::bigint[], p_currencies => ARRAY['USD', 'USD'], "
        "p_lock_versions => ARRAY[NULL, %s]::bigint[])", [T0, version])  # T0's month has its partition
    outcome = []

    def second():
        ledger = open_ledger(ledger_db.writer_dsn)
        tx = transfer("second", "equity:capital", "assets:cash", 7, "EUR", credit_version=version)
        try:
            outcome.append(ledger.post_many([tx])[0] if batched else ledger.post(tx))
        except VersionConflict as exc:
            outcome.append(exc)
        finally:
            ledger.conn.close()

    waiter = threading.Thread(target=second)
    waiter.start()
    waiter.join(timeout=1.5)
    still_waiting = waiter.is_alive()
    first.commit()
    first.close()
    waiter.join()
    assert still_waiting, outcome
    (refused,) = outcome
    assert isinstance(refused, VersionConflict), refused
    assert (refused.mismatches[0].expected, refused.mismatches[0].actual) == (version, version + 1)
    with connect(ledger_db.reader_dsn) as conn:
        assert reads.get_account(conn, "assets:cash").lock_version == version + 1
    assert_cache_matches_entries(ledger_db)


def test_concurrent_moves_of_one_pending_transaction_exactly_one_happens(ledger_db):
    setup = open_ledger(ledger_db.writer_dsn)
    setup.post(transfer("fund", "assets:cash", "equity:capital", 1000))
    for n in range(3):
        setup.post(transfer(f"pay{n}", "assets:in_transit", "assets:cash", 100, status="pending"))
    setup.conn.close()

    def mover(key, same_transition):
        def work(i, barrier):
            ledger = open_ledger(ledger_db.writer_dsn)
            barrier.wait()
            try:
                if same_transition:
                    return ledger.move(key, "posted", transition_key=f"{key}:settle", transition_hash="h")
                return ledger.move(key, "posted" if i % 2 else "archived")
            finally:
                ledger.conn.close()
        return work

    # different moves: one wins, the rest are told it is no longer pending
    results = run_threads(8, mover("pay0", False))
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1 and all(isinstance(r, InvalidTransition) for r in results if r not in winners), results
    # the same move (same transition key) from 8 writers: one does it, the others get a replay
    results = run_threads(8, mover("pay1", True))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.created for r in results) == [False] * 7 + [True]
    with connect(ledger_db.reader_dsn) as conn:
        audit = conn.execute("SELECT count(*) FROM ledger.audit_log WHERE action LIKE 'transaction.%%'").fetchone()[0]
        cash = reads.balance(conn, "assets:cash", "USD")
    assert audit == 2
    won_posted = winners[0].status == "posted"
    # fund 1000; pay1 posted; pay0 posted or archived; pay2 pending
    assert cash.posted == 1000 - 100 - (100 if won_posted else 0)
    assert cash.available == cash.posted - 100
    assert_cache_matches_entries(ledger_db)


def test_concurrent_reversals_of_one_transaction_exactly_one_happens(ledger_db):
    setup = open_ledger(ledger_db.writer_dsn)
    setup.post(transfer("sale", "assets:cash", "revenue:sales", 300))
    setup.post(transfer("sale2", "assets:cash", "revenue:sales", 50))
    setup.conn.close()

    def reverser(target, same_key):
        def work(i, barrier):
            ledger = open_ledger(ledger_db.writer_dsn)
            barrier.wait()
            try:
                key = f"{target}:void" if same_key else f"{target}:void-{i}"
                return ledger.reverse(target, idempotency_key=key, effective_at=None, reason="dup")
            finally:
                ledger.conn.close()
        return work

    results = run_threads(8, reverser("sale", False))
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1, results
    assert all(isinstance(r, InvalidTransition) for r in results if isinstance(r, Exception)), results
    results = run_threads(8, reverser("sale2", True))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.created for r in results) == [False] * 7 + [True]
    with connect(ledger_db.reader_dsn) as conn:
        assert reads.balance(conn, "assets:cash", "USD").posted == 0
        assert conn.execute("SELECT count(*) FROM ledger.transactions WHERE reverses_transaction_id IS NOT NULL").fetchone()[0] == 2
    assert_cache_matches_entries(ledger_db)


def test_a_same_key_reversal_that_commits_while_the_other_waits_is_a_replay(ledger_db):
    """The window the 8-thread test above hits by chance, made certain: two writers reverse with the
    same key, both read the key (absent) and the target (not reversed) before either commits --
    the owner holds the target's balance rows -- then one commits the reversal and the other, after
    its lock wait, answers with it (created=False) instead of failing or reversing twice."""
    setup = open_ledger(ledger_db.writer_dsn)
    setup.post(transfer("sale", "assets:cash", "revenue:sales", 300))
    with psycopg.connect(ledger_db.dsn) as holder:  # owner: may lock the cached balances
        holder.execute("SELECT 1 FROM ledger.balances FOR UPDATE")

        def reverser(i, barrier):
            ledger = open_ledger(ledger_db.writer_dsn)
            try:
                barrier.wait()
                return ledger.reverse("sale", idempotency_key="sale:void", effective_at=None, reason="dup")
            finally:
                ledger.conn.close()

        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(run_threads, 2, reverser)
            try:
                # autocommit: each look at pg_stat_activity is a fresh snapshot of it
                with connect(ledger_db.dsn, autocommit=True) as watcher:  # both past their reads, waiting
                    for _ in range(3000):
                        waiting = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                                  "AND query LIKE '%reverse_transaction%'").fetchone()[0]
                        if waiting == 2:
                            break
                        threading.Event().wait(0.02)
            finally:
                holder.rollback()  # never leave the reversers waiting, even when the wait above failed
            assert waiting == 2
            results = running.result(60)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.created for r in results) == [False, True]
    assert len({r.transaction_id for r in results}) == 1
    ledger = open_ledger(ledger_db.writer_dsn)
    with pytest.raises(InvalidTransition, match="already reversed"):  # another key is still refused
        ledger.reverse("sale", idempotency_key="sale:void-2", effective_at=None, reason="dup")
    with connect(ledger_db.reader_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM ledger.transactions WHERE reverses_transaction_id IS NOT NULL").fetchone()[0] == 1
    setup.conn.close()
    ledger.conn.close()


def test_two_processes_applying_overlapping_bulk_plans_post_every_event_exactly_once(ledger_db):
    ctx = multiprocessing.get_context("spawn")
    ranges = [(0, 400), (200, 600), (350, 450)]
    # The pool's processes take SIGTERM's default action: they inherit this process's, and Dagster's
    # interrupt handling, run earlier in the same test process, maps SIGTERM to SIGINT's, which is
    # "ignore" where the suite was started in the background. Pool.terminate() could not stop them
    # then, and the test hung. They are also closed and joined once done, not terminated.
    with ctx.Manager() as manager, ctx.Pool(len(ranges), initializer=signal.signal,
                                            initargs=(signal.SIGTERM, signal.SIG_DFL)) as pool:
        go = manager.Barrier(len(ranges))  # every process has built its plan before any applies it
        pending = [pool.apply_async(apply_range, (ledger_db.writer_dsn, a, b, go)) for a, b in ranges]
        runs = [p.get(180) for p in pending]
        pool.close()
        pool.join()

    events = range(0, 600)
    outcome_of = Counter()
    for run in runs:
        for event_id, outcome, reason in run:
            assert reason is None, (event_id, outcome, reason)
            outcome_of[(event_id, outcome)] += 1
    for i in events:
        spec = event_spec(i)
        runs_with_it = sum(1 for a, b in ranges if a <= i < b)
        written = outcome_of[(spec["key"], "pending" if spec["pending"] else "posted")]
        assert written == 1, (i, outcome_of)
        assert outcome_of[(spec["key"], "duplicate")] == runs_with_it - 1
        if spec["pending"]:
            assert outcome_of[(f"s{i}", "posted")] == 1
            assert outcome_of[(f"s{i}", "duplicate")] == runs_with_it - 1

    with psycopg.connect(ledger_db.reader_dsn) as conn:
        keys = Counter(r[0] for r in conn.execute("SELECT idempotency_key FROM ledger.transactions"))
        statuses = Counter(r[0] for r in conn.execute("SELECT status FROM ledger.transactions"))
        got = {b.account: b.posted for b in reads.balances(conn)}
    assert keys == Counter({event_spec(i)["key"]: 1 for i in events})
    assert statuses == Counter({"posted": 600})
    expected = Counter()
    for i in events:
        expected[event_spec(i)["account"]] += event_spec(i)["amount"]
    for account, amount in expected.items():
        assert got[account] == amount
    assert got["equity:capital"] == sum(expected.values())
    assert_cache_matches_entries(ledger_db)
