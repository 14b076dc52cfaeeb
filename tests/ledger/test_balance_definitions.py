"""The contract's posted / pending / available on mixes of pending, posted and archived transactions,
for debit- and credit-normal accounts: now (the cache), as of earlier effective times, and as known
at earlier system times (bitemporal).

The expected numbers come from ``reference`` below: a direct reading of source-events.md and
docs/architecture.md ("Balance definitions") over the list of postings this test made.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ledger_pipelines.ledger import balances as reads
from ledger_pipelines.postgres.database import connect
from tests.ledger.helpers_ledger import FAR_FUTURE, T0, contract_balances, normal_of, open_ledger, transfer

DAY = timedelta(days=1)


@dataclass
class Posting:
    key: str
    legs: list[tuple[str, str, int, str]]  # account, direction, amount, currency
    effective_at: datetime
    status: str  # as posted: 'posted' | 'pending'
    posted_at: datetime | None = None  # business time of a later move to posted
    archived_at: datetime | None = None
    moves: list = field(default_factory=list)


def reference(postings: list[Posting], account: str, currency: str, as_of: datetime) -> tuple[int, int, int]:
    return contract_balances(normal_of(account), *reference_sums(postings, account, currency, as_of))


def reference_sums(postings: list[Posting], account: str, currency: str, as_of: datetime) -> tuple[int, int, int, int]:
    """Posted debits, posted credits, pending debits, pending credits as of ``as_of``."""
    pd = pc = qd = qc = 0
    for p in postings:
        if p.effective_at > as_of:
            continue
        posted_at = p.effective_at if p.status == "posted" else p.posted_at
        if posted_at is not None and posted_at <= as_of:
            state = "posted"
        elif p.archived_at is not None and p.archived_at <= as_of:
            state = "gone"
        else:
            state = "pending"
        for acc, direction, amount, cur in p.legs:
            if (acc, cur) != (account, currency) or state == "gone":
                continue
            if state == "posted":
                pd, pc = (pd + amount, pc) if direction == "debit" else (pd, pc + amount)
            else:
                qd, qc = (qd + amount, qc) if direction == "debit" else (qd, qc + amount)
    return pd, pc, qd, qc


def test_reference_reads_the_contract_literally():
    """Hand-checked values, so a mistake in ``reference`` cannot mirror one in the implementation."""
    inflow = Posting("a", [("assets:cash", "debit", 100, "USD")], T0, "posted")
    pending_out = Posting("b", [("assets:cash", "credit", 30, "USD")], T0, "pending")
    pending_in = Posting("c", [("assets:cash", "debit", 5, "USD")], T0, "pending")
    assert reference([inflow, pending_out, pending_in], "assets:cash", "USD", T0) == (100, 75, 70)
    wallet_in = Posting("d", [("liabilities:w", "credit", 100, "USD")], T0, "posted")
    wallet_out = Posting("e", [("liabilities:w", "debit", 40, "USD")], T0, "pending", posted_at=T0 + DAY)
    assert reference([wallet_in, wallet_out], "liabilities:w", "USD", T0) == (100, 60, 60)
    assert reference([wallet_in, wallet_out], "liabilities:w", "USD", T0 + DAY) == (60, 60, 60)


def _scenario() -> list[Posting]:
    """A month of movements on a debit-normal (cash) and a credit-normal (wallet) account."""
    return [
        Posting("fund", [("assets:cash", "debit", 1000, "USD"), ("equity:capital", "credit", 1000, "USD")], T0, "posted"),
        Posting("out-settles", [("assets:in_transit", "debit", 300, "USD"), ("assets:cash", "credit", 300, "USD")],
                T0 + DAY, "pending", posted_at=T0 + 3 * DAY),
        Posting("out-fails", [("assets:in_transit", "debit", 200, "USD"), ("assets:cash", "credit", 200, "USD")],
                T0 + 2 * DAY, "pending", archived_at=T0 + 4 * DAY),
        Posting("in-pending", [("assets:cash", "debit", 50, "USD"), ("revenue:sales", "credit", 50, "USD")], T0 + 2 * DAY, "pending"),
        Posting("spend", [("expenses:rent", "debit", 100, "USD"), ("assets:cash", "credit", 100, "USD")], T0 + 5 * DAY, "posted"),
        Posting("jpy", [("assets:cash", "debit", 7000, "JPY"), ("equity:capital", "credit", 7000, "JPY")], T0 + DAY, "posted"),
        # wallet (credit-normal): top-up, a pending spend that posts, one that is archived, a pending refund in
        Posting("top-up", [("assets:bank", "debit", 500, "USD"), ("liabilities:wallet", "credit", 500, "USD")], T0, "posted"),
        Posting("w-spend", [("liabilities:wallet", "debit", 120, "USD"), ("revenue:sales", "credit", 120, "USD")],
                T0 + DAY, "pending", posted_at=T0 + 2 * DAY),
        Posting("w-hold", [("liabilities:wallet", "debit", 80, "USD"), ("revenue:sales", "credit", 80, "USD")],
                T0 + DAY, "pending", archived_at=T0 + 6 * DAY),
        Posting("w-refund", [("revenue:sales", "debit", 30, "USD"), ("liabilities:wallet", "credit", 30, "USD")], T0 + 3 * DAY, "pending"),
        # a posting dated in the future of every as_of below except the last
        Posting("future", [("assets:cash", "debit", 9, "USD"), ("equity:capital", "credit", 9, "USD")], T0 + 400 * DAY, "posted"),
    ]


def _post(ledger, postings: list[Posting]) -> None:
    from ledger_pipelines.ledger.model import Leg, NewTransaction

    for p in postings:
        ledger.post(NewTransaction(p.key, tuple(Leg(*leg) for leg in p.legs), p.effective_at, status=p.status))
    for p in postings:
        if p.posted_at is not None:
            ledger.move(p.key, "posted", at=p.posted_at)
        if p.archived_at is not None:
            ledger.move(p.key, "archived", at=p.archived_at)


PAIRS = [("assets:cash", "USD"), ("assets:cash", "JPY"), ("liabilities:wallet", "USD"), ("revenue:sales", "USD"),
         ("assets:in_transit", "USD"), ("equity:capital", "USD")]
INSTANTS = [T0 - timedelta(microseconds=1), T0, T0 + DAY, T0 + 2 * DAY, T0 + 2 * DAY + timedelta(hours=1),
            T0 + 3 * DAY - timedelta(microseconds=1), T0 + 3 * DAY, T0 + 4 * DAY, T0 + 5 * DAY, T0 + 6 * DAY, T0 + 30 * DAY]


def test_balances_now_and_as_of_every_earlier_time(ledger_db):
    postings = _scenario()
    ledger = open_ledger(ledger_db.writer_dsn)
    _post(ledger, postings)
    with connect(ledger_db.reader_dsn) as conn:
        for account, currency in PAIRS:
            for as_of in INSTANTS:
                got = reads.balance(conn, account, currency, as_of=as_of)
                assert (got.posted, got.pending, got.available) == reference(postings, account, currency, as_of), (account, currency, as_of)
            # now (the cache; every posting of the scenario, 'future' included, is dated before the real now)
            cached = reads.balance(conn, account, currency)
            expected_now = reference(postings, account, currency, FAR_FUTURE)
            assert (cached.posted, cached.pending, cached.available) == expected_now, account
            recomputed = reads.balance(conn, account, currency, as_of=FAR_FUTURE)
            assert (recomputed.posted, recomputed.pending, recomputed.available) == expected_now
        # every account at once agrees with one account at a time
        listing = {(b.account, b.currency): (b.posted, b.pending, b.available) for b in reads.balances(conn, as_of=T0 + 2 * DAY)}
        for account, currency in PAIRS:
            expected = reference(postings, account, currency, T0 + 2 * DAY)
            assert listing.get((account, currency), (0, 0, 0)) == expected
        # spot checks written out by hand from the scenario
        cash = reads.balance(conn, "assets:cash", "USD", as_of=T0 + 2 * DAY)
        # posted 1000; pending: +50 in, -300 and -200 out; available: 1000 - 500 pending outflows
        assert (cash.posted, cash.pending, cash.available) == (1000, 550, 500)
        wallet = reads.balance(conn, "liabilities:wallet", "USD", as_of=T0 + 2 * DAY)
        # posted: 500 - 120 (posted at day 2); pending: -80 hold; available: 420 - 80
        assert (wallet.posted, wallet.pending, wallet.available) == (380, 300, 300)
        assert reads.balance(conn, "assets:cash", "EUR").posted == 0  # never moved in EUR
    ledger.conn.close()


def test_category_balances_sum_members_signed_by_the_category(ledger_db):
    postings = _scenario()
    ledger = open_ledger(ledger_db.writer_dsn)
    _post(ledger, postings)
    ledger.create_category("region:eu", reason="test")  # a group: debit-signed by default
    ledger.add_to_category("region:eu", ["assets:cash", "liabilities:wallet"])
    ledger.create_category("revenue:promo", reason="test")  # a group under 'revenue': credit-signed like it
    ledger.add_to_category("revenue:promo", ["revenue:sales"])
    as_of = T0 + 2 * DAY
    with connect(ledger_db.reader_dsn) as conn:
        rows = {(b.account, b.currency): b for b in reads.category_balances(conn, None, as_of=as_of)}
        now_rows = {(b.account, b.currency): b for b in reads.category_balances(conn, "assets")}

    def category(normal, members):
        """A category: its members' four sums added up, signed by the category's normal balance."""
        totals = [sum(reference_sums(postings, a, "USD", as_of)[i] for a in members) for i in range(4)]
        return contract_balances(normal, *totals)

    # 'assets' (debit-normal path category) = every assets:* account
    got = rows[("assets", "USD")]
    assert (got.posted, got.pending, got.available) == category("debit", ["assets:cash", "assets:in_transit", "assets:bank"])
    # the group holds a debit-normal and a credit-normal account; it is debit-signed
    got = rows[("region:eu", "USD")]
    assert (got.posted, got.pending, got.available) == category("debit", ["assets:cash", "liabilities:wallet"])
    # 'revenue' is credit-signed, and so is a group named under it
    got = rows[("revenue", "USD")]
    assert (got.posted, got.pending, got.available) == reference(postings, "revenue:sales", "USD", as_of)
    got = rows[("revenue:promo", "USD")]
    assert (got.posted, got.pending, got.available) == reference(postings, "revenue:sales", "USD", as_of)
    assert got.posted > 0
    assert set(now_rows) >= {("assets", "USD"), ("assets:cash", "USD"), ("assets:cash", "JPY")}
    assert all(k[0] == "assets" or k[0].startswith("assets:") for k in now_rows)
    ledger.conn.close()


def _system_times(db, key):
    with psycopg.connect(db.reader_dsn) as conn:
        return conn.execute("SELECT created_at, status_changed_at FROM ledger.transactions WHERE idempotency_key = %s", [key]).fetchone()


def test_known_at_answers_as_the_ledger_stood_then(ledger_db):
    ledger = open_ledger(ledger_db.writer_dsn)
    ledger.post(transfer("fund", "assets:cash", "equity:capital", 1000))
    time.sleep(0.02)
    ledger.post(transfer("pay", "assets:in_transit", "assets:cash", 300, status="pending", at=T0 + DAY))
    ledger.post(transfer("hold", "assets:in_transit", "assets:cash", 200, status="pending", at=T0 + DAY))
    time.sleep(0.02)
    ledger.move("pay", "posted", at=T0 + 2 * DAY)
    time.sleep(0.02)
    ledger.move("hold", "archived", at=T0 + 2 * DAY)
    time.sleep(0.02)
    # posted late, but dated back to the first day
    ledger.post(transfer("late", "assets:cash", "revenue:sales", 40, at=T0))

    fund_created, _ = _system_times(ledger_db, "fund")
    pay_created, pay_moved = _system_times(ledger_db, "pay")
    hold_created, hold_moved = _system_times(ledger_db, "hold")
    late_created, _ = _system_times(ledger_db, "late")
    assert fund_created < pay_created < hold_created < pay_moved < hold_moved < late_created
    us = timedelta(microseconds=1)
    far = FAR_FUTURE

    def at(known, as_of=far):
        with connect(ledger_db.reader_dsn) as conn:
            b = reads.balance(conn, "assets:cash", "USD", as_of=as_of, known_at=known)
        return b.posted, b.pending, b.available

    assert at(fund_created - us) == (0, 0, 0)  # nothing recorded yet
    assert at(fund_created) == (1000, 1000, 1000)
    assert at(pay_created) == (1000, 700, 700)  # pay pending
    assert at(hold_created - us) == (1000, 700, 700)
    assert at(hold_created) == (1000, 500, 500)  # both outflows pending
    assert at(pay_moved - us) == (1000, 500, 500)
    assert at(pay_moved) == (700, 500, 500)  # pay posted, hold still pending
    assert at(hold_moved) == (700, 700, 700)  # hold archived
    assert at(late_created - us) == (700, 700, 700)
    assert at(late_created) == (740, 740, 740)
    # both axes at once: as known after everything, as of day 1 (pay not yet posted, hold not yet archived)
    assert at(late_created, as_of=T0 + DAY) == (1040, 540, 540)
    # as known before the moves, as of day 3: the moves had not been recorded, so both still pending
    assert at(pay_moved - us, as_of=T0 + 3 * DAY) == (1000, 500, 500)
    # the late posting is dated at T0 but unknown before it was recorded
    assert at(late_created - us, as_of=T0) == (1000, 1000, 1000)
    ledger.conn.close()


@pytest.mark.parametrize("account", ["assets:cash", "liabilities:wallet"])
def test_available_counts_pending_outflows_but_not_pending_inflows(ledger_db, account):
    ledger = open_ledger(ledger_db.writer_dsn)
    normal = normal_of(account)
    inflow, outflow = (("debit", "credit") if normal == "debit" else ("credit", "debit"))

    def post(key, side, amount, status):
        tx = transfer(key, account, "equity:other", amount, status=status) if side == "debit" else \
            transfer(key, "assets:other", account, amount, status=status)
        ledger.post(tx)

    post("in", inflow, 500, "posted")
    post("pending-in", inflow, 70, "pending")
    post("pending-out", outflow, 40, "pending")
    with connect(ledger_db.reader_dsn) as conn:
        b = reads.balance(conn, account, "USD")
    assert (b.posted, b.pending, b.available) == (500, 530, 460)
    ledger.conn.close()


def test_a_balance_now_leaves_out_what_is_dated_later(ledger_db):
    """interfaces.md: --as-of defaults to now, i.e. every entry with effective_at <= now, moves as dated.

    The cache counts every entry whatever its date, so an account with something dated later
    (here: an entry three years ahead and a settlement two days ahead) must not be read from it.
    """
    from ledger_pipelines.ledger.model import Leg, NewTransaction

    now = datetime.now(UTC)
    ledger = open_ledger(ledger_db.writer_dsn)
    ledger.post(transfer("today", "assets:cash:f1", "equity:capital", 1500, at=now - DAY))
    ledger.post(transfer("in-three-years", "assets:cash:f1", "equity:capital", 18, at=now + 3 * 365 * DAY))
    ledger.post(transfer("out", "expenses:fees", "assets:cash:f1", 40, status="pending", at=now - DAY))
    ledger.move("out", "posted", at=now + 2 * DAY)  # settles the day after tomorrow
    ledger.post(NewTransaction("plain", (Leg("assets:cash:f2", "debit", 7, "USD"), Leg("equity:capital", "credit", 7, "USD")), now - DAY))
    with connect(ledger_db.reader_dsn) as conn:
        cash = reads.balance(conn, "assets:cash:f1", "USD")
        # posted: only the 1500; the 40 going out is still pending now (available counts it)
        assert (cash.posted, cash.pending, cash.available) == (1500, 1460, 1460)
        later = reads.balance(conn, "assets:cash:f1", "USD", as_of=now + 4 * 365 * DAY)
        assert (later.posted, later.pending, later.available) == (1500 + 18 - 40,) * 3
        # the versions still come from the cache, and lock_version is the account's own
        with psycopg.connect(ledger_db.reader_dsn) as raw:
            lock_version, version = raw.execute(
                "SELECT ledger.lock_version(a.account_id), b.version FROM ledger.accounts a JOIN ledger.balances b USING (account_id) "
                "WHERE a.code = 'assets:cash:f1'").fetchone()
        assert (cash.version, cash.lock_version) == (version, lock_version) and lock_version == 4
        listed = {(b.account, b.currency): (b.posted, b.pending, b.available) for b in reads.balances(conn)}
        assert listed[("assets:cash:f1", "USD")] == (1500, 1460, 1460)
        assert listed[("assets:cash:f2", "USD")] == (7, 7, 7)  # nothing later: read from the cache
        assert listed[("equity:capital", "USD")] == (1507, 1507, 1507)  # the 18 is three years ahead
