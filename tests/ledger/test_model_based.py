"""Model-based test: random sequences of ledger operations against the real database and a tiny model.

A Hypothesis ``RuleBasedStateMachine`` posts transactions (random accounts of both normal
balances, USD/EUR/JPY, several legs, posted or pending, with balance conditions that may fail
and lock versions that may be stale), replays them (same content and changed content), moves
pending ones to posted or archived, tries invalid moves, and reverses posted ones (and tries to
reverse again). The model is a few dicts; after every step:

* every cached balance (``balances()``) and every balance recomputed from entries
  (``balances(as_of=far future)``) equals the model's,
* every account's ``lock_version`` equals the model's,
* total debits = total credits per currency over all entries,

and a rule compares balances ``as_of`` a random instant with the model's reading of the contract.
Each example runs against its own fresh database.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from ledger_pipelines.accounting.errors import (
    BalanceConditionFailed,
    IdempotencyConflict,
    InvalidTransition,
    VersionConflict,
)
from ledger_pipelines.ledger import balances as reads
from ledger_pipelines.ledger.model import Condition, Leg, NewTransaction
from ledger_pipelines.ledger.posting import Ledger
from ledger_pipelines.postgres.database import connect
from tests.conftest import drop_database, make_database
from tests.ledger.helpers_ledger import FAR_FUTURE, contract_balances, normal_of

ACCOUNTS = ["assets:cash", "assets:bank:eu", "expenses:fees", "liabilities:wallet:a", "revenue:sales", "equity:capital"]
CURRENCIES = ["USD", "EUR", "JPY"]
T0 = datetime(2024, 6, 1, tzinfo=UTC)
KINDS = ("posted", "pending", "available")

times = st.integers(min_value=-300, max_value=300).map(lambda h: T0 + timedelta(hours=h))


@dataclass
class ModelTx:
    key: str
    tx: NewTransaction | None  # None for reversals
    legs: list[tuple[str, str, int, str]]
    status: str
    effective_at: datetime
    posted_at: datetime | None = None
    archived_at: datetime | None = None
    reversed: bool = False
    transaction_id: str | None = None


def _slot(status: str, direction: str) -> int:
    return (0 if status == "posted" else 2) + (0 if direction == "debit" else 1)


class LedgerMachine(RuleBasedStateMachine):
    cluster = None  # set by the test before running

    def __init__(self):
        super().__init__()
        self.db = make_database(type(self).cluster)
        self.ledger = Ledger(connect(self.db.writer_dsn), actor="model")
        self.reader = connect(self.db.reader_dsn, autocommit=True)
        self.sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.versions: dict[str, int] = defaultdict(int)
        self.txs: dict[str, ModelTx] = {}
        self.counter = 0

    def teardown(self):
        self.ledger.conn.close()
        self.reader.close()
        drop_database(type(self).cluster, self.db.name)

    # -- model helpers -------------------------------------------------------------------------
    def _next_key(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def _apply(self, legs, status: str, sign: int = 1) -> None:
        for account, direction, amount, currency in legs:
            self.sums[(account, currency)][_slot(status, direction)] += sign * amount

    def _balance(self, sums, account) -> dict[str, int]:
        return dict(zip(KINDS, contract_balances(normal_of(account), *sums), strict=True))

    def _by_status(self, *statuses: str) -> list[str]:
        return sorted(k for k, t in self.txs.items() if t.status in statuses)

    # -- rules ---------------------------------------------------------------------------------
    @rule(data=st.data(), status=st.sampled_from(["posted", "pending"]), at=times)
    def post(self, data, status, at):
        legs = []
        for currency in data.draw(st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=2, unique=True), label="currencies"):
            top = 10**6 if currency != "JPY" else 10**4
            debits = data.draw(st.lists(st.integers(1, top), min_size=1, max_size=2), label="debits")
            total = sum(debits)
            split = data.draw(st.integers(0, total - 1), label="split") if total > 1 else 0
            credits = [a for a in (total - split, split) if a > 0]
            for amount in debits:
                legs.append([data.draw(st.sampled_from(ACCOUNTS), label="debit account"), "debit", amount, currency])
            for amount in credits:
                legs.append([data.draw(st.sampled_from(ACCOUNTS), label="credit account"), "credit", amount, currency])
        conditions: dict[int, tuple[Condition, bool]] = {}
        versions: dict[int, tuple[int, bool]] = {}
        # state after the transaction, for choosing bounds that hold or fail
        after = {k: list(v) for k, v in self.sums.items()}
        for account, direction, amount, currency in legs:
            after.setdefault((account, currency), [0, 0, 0, 0])[_slot(status, direction)] += amount
        if data.draw(st.booleans(), label="with condition"):
            i = data.draw(st.integers(0, len(legs) - 1), label="condition leg")
            account, _, _, currency = legs[i]
            kind = data.draw(st.sampled_from(KINDS), label="kind")
            value = self._balance(after[(account, currency)], account)[kind]
            op = data.draw(st.sampled_from(["gte", "lte", "eq"]), label="op")
            bound = value + data.draw(st.sampled_from([-3, 0, 0, 2]), label="shift")
            holds = value >= bound if op == "gte" else value <= bound if op == "lte" else value == bound
            conditions[i] = (Condition(kind, op, bound), holds)
        if data.draw(st.booleans(), label="with version"):
            i = data.draw(st.integers(0, len(legs) - 1), label="version leg")
            current = self.versions[legs[i][0]]
            stale = data.draw(st.booleans(), label="stale")
            given = (current - 1 if current > 0 else current + 1) if stale else current
            versions[i] = (given, not stale)
        tx = NewTransaction(
            self._next_key("t"),
            tuple(Leg(a, d, amt, c, (conditions[i][0],) if i in conditions else (), versions[i][0] if i in versions else None)
                  for i, (a, d, amt, c) in enumerate(legs)),
            at, status=status, description=f"model {self.counter}",
        )
        if not all(ok for _, ok in versions.values()):
            try:
                self.ledger.post(tx)
            except VersionConflict as exc:
                stale_accounts = {legs[i][0] for i, (_, ok) in versions.items() if not ok}
                assert {m.account for m in exc.mismatches} == stale_accounts
                return
            raise AssertionError("a stale lock_version was accepted")
        if not all(ok for _, ok in conditions.values()):
            try:
                self.ledger.post(tx)
            except BalanceConditionFailed:
                return
            raise AssertionError("a failing condition was accepted")
        result = self.ledger.post(tx)
        assert result.created and result.status == status
        self._apply(legs, status)
        for account, *_ in legs:
            self.versions[account] += 1
        self.txs[tx.idempotency_key] = ModelTx(tx.idempotency_key, tx, [tuple(leg) for leg in legs], status, at,
                                               transaction_id=result.transaction_id)

    @precondition(lambda self: any(t.tx is not None for t in self.txs.values()))
    @rule(data=st.data(), change=st.booleans())
    def replay(self, data, change):
        key = data.draw(st.sampled_from(sorted(k for k, t in self.txs.items() if t.tx is not None)), label="replayed")
        stored = self.txs[key]
        if not change:
            result = self.ledger.post(stored.tx)
            assert (result.created, result.transaction_id, result.status) == (False, stored.transaction_id, stored.status)
            return
        changed = NewTransaction(key, stored.tx.legs, stored.tx.effective_at, status=stored.tx.status,
                                 description=(stored.tx.description or "") + " (edited)")
        try:
            self.ledger.post(changed)
        except IdempotencyConflict:
            return
        raise AssertionError("changed content under a used key was accepted")

    @precondition(lambda self: any(t.status == "pending" for t in self.txs.values()))
    @rule(data=st.data(), to=st.sampled_from(["posted", "archived"]), at=times)
    def move(self, data, to, at):
        key = data.draw(st.sampled_from(self._by_status("pending")), label="moved")
        t = self.txs[key]
        if at < t.effective_at:  # a move is never dated before the transaction's own time
            try:
                self.ledger.move(key, to, at=at)
            except InvalidTransition:
                return
            raise AssertionError(f"moved {key} at {at}, before its effective_at {t.effective_at}")
        result = self.ledger.move(key, to, at=at)
        assert (result.created, result.status) == (True, to)
        self._apply(t.legs, "pending", -1)
        if to == "posted":
            self._apply(t.legs, "posted")
            t.posted_at = at
        else:
            t.archived_at = at
        t.status = to
        for account, *_ in t.legs:
            self.versions[account] += 1

    @precondition(lambda self: any(t.status != "pending" for t in self.txs.values()))
    @rule(data=st.data(), to=st.sampled_from(["posted", "archived"]))
    def invalid_move(self, data, to):
        key = data.draw(st.sampled_from(self._by_status("posted", "archived")), label="not pending")
        try:
            self.ledger.move(key, to)
        except InvalidTransition:
            return
        raise AssertionError(f"moved a {self.txs[key].status} transaction")

    @precondition(lambda self: any(t.status == "posted" and not t.reversed for t in self.txs.values()))
    @rule(data=st.data(), at=times)
    def reverse(self, data, at):
        key = data.draw(st.sampled_from(sorted(k for k, t in self.txs.items() if t.status == "posted" and not t.reversed)), label="reversed")
        t = self.txs[key]
        new_key = self._next_key("r")
        result = self.ledger.reverse(key, idempotency_key=new_key, effective_at=at, reason="model")
        assert result.created
        flipped = [(a, "credit" if d == "debit" else "debit", amt, c) for a, d, amt, c in t.legs]
        self._apply(flipped, "posted")
        for account, *_ in flipped:
            self.versions[account] += 1
        t.reversed = True
        self.txs[new_key] = ModelTx(new_key, None, flipped, "posted", at, transaction_id=result.transaction_id)

    @precondition(lambda self: any(t.status != "posted" or t.reversed for t in self.txs.values()))
    @rule(data=st.data())
    def invalid_reverse(self, data):
        key = data.draw(st.sampled_from(sorted(k for k, t in self.txs.items() if t.status != "posted" or t.reversed)), label="not reversible")
        try:
            self.ledger.reverse(key, idempotency_key=self._next_key("bad"))
        except InvalidTransition:
            return
        raise AssertionError("reversed a transaction that is not posted or was reversed already")

    @rule(as_of=times)
    def balances_as_of(self, as_of):
        expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for t in self.txs.values():
            if t.effective_at > as_of:
                continue
            posted_at = t.effective_at if (t.status == "posted" and t.posted_at is None) else t.posted_at
            if posted_at is not None and posted_at <= as_of:
                state = "posted"
            elif t.archived_at is not None and t.archived_at <= as_of:
                continue
            else:
                state = "pending"
            for account, direction, amount, currency in t.legs:
                expected[(account, currency)][_slot(state, direction)] += amount
        got = {(b.account, b.currency): (b.posted, b.pending, b.available) for b in reads.balances(self.reader, as_of=as_of)}
        want = {k: tuple(self._balance(v, k[0]).values()) for k, v in expected.items()}
        assert {k: v for k, v in got.items() if any(v)} == {k: v for k, v in want.items() if any(v)}

    # -- invariants ----------------------------------------------------------------------------
    @invariant()
    def balances_agree(self):
        model = {k: tuple(v) for k, v in self.sums.items() if any(v)}
        cached = {(b.account, b.currency): (b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits)
                  for b in reads.balances(self.reader)}
        recomputed = {(b.account, b.currency): (b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits)
                      for b in reads.balances(self.reader, as_of=FAR_FUTURE)}
        assert {k: v for k, v in cached.items() if any(v)} == model
        assert {k: v for k, v in recomputed.items() if any(v)} == model
        # and the signed balances, as the API reports them
        for b in reads.balances(self.reader):
            if (b.account, b.currency) in model:
                expected = self._balance(model[(b.account, b.currency)], b.account)
                assert (b.posted, b.pending, b.available) == (expected["posted"], expected["pending"], expected["available"])

    @invariant()
    def versions_agree(self):
        # an account exists once a committed posting names it, so its version is at least 1
        got = dict(self.reader.execute("SELECT code, ledger.lock_version(account_id) FROM ledger.accounts").fetchall())
        assert got == {k: v for k, v in self.versions.items() if v > 0}

    @invariant()
    def debits_equal_credits(self):
        rows = self.reader.execute(
            "SELECT currency, sum(amount) FILTER (WHERE direction = 'debit'), sum(amount) FILTER (WHERE direction = 'credit') "
            "FROM ledger.entries GROUP BY currency"
        ).fetchall()
        for currency, debits, credits in rows:
            assert debits == credits, currency
        model_totals = defaultdict(lambda: [0, 0])
        for t in self.txs.values():
            for _, direction, amount, currency in t.legs:
                model_totals[currency][0 if direction == "debit" else 1] += amount
        assert {c: [int(d), int(cr)] for c, d, cr in rows} == dict(model_totals)


def test_ledger_against_a_model(pg_cluster):
    LedgerMachine.cluster = pg_cluster
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        ),
    )


def test_the_machine_sees_every_database(pg_cluster):
    """The machine creates and drops one database per example (nothing leaks between examples)."""
    with psycopg.connect(pg_cluster.superuser_dsn(), autocommit=True) as conn:
        before = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    LedgerMachine.cluster = pg_cluster
    machine = LedgerMachine()
    name = machine.db.name
    machine.teardown()
    with psycopg.connect(pg_cluster.superuser_dsn(), autocommit=True) as conn:
        after = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert name not in before and after == before
