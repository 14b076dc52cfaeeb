"""ledger.entries by month of effective_at (issue 17): the guards hold on every partition, no write
path fails for lack of a partition, lookups by transaction id and balances as of a time read only the
partitions they need, and the commit check's tallies are as strict as re-reading the entries.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from ledger_pipelines.ledger.bulk import apply_plan
from ledger_pipelines.paths import read_sql
from tests.ledger.helpers_bulk import ACCOUNT_TYPES
from tests.ledger.helpers_ledger import open_ledger, transfer
from tests.ledger.helpers_sql import (
    PARTITION_GUARDS,
    USD_100,
    attempt,
    connect,
    create_accounts,
    insert_entry_sql,
    insert_transaction_sql,
    partitions,
    scalar,
    transaction_statements,
)
from tests.ledger.plans import PlanBuilder

MARCH = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
MAY = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(ledger_db):
    create_accounts(ledger_db.writer_dsn)
    return ledger_db


def post_sql(dsn: str, key: str, at: datetime) -> None:
    outcome = attempt(dsn, *transaction_statements(key, effective_at=at)[1])
    assert outcome.committed, outcome


def test_every_partition_has_the_guards_of_the_parent(db):
    post_sql(db.writer_dsn, "march", MARCH)
    post_sql(db.writer_dsn, "may", MAY)
    parts = partitions(db.dsn)
    assert {"ledger_partitions.entries_2024_03", "ledger_partitions.entries_2024_05"} <= set(parts)
    assert "ledger_partitions.entries_2024_04" not in parts  # only months that are needed (and the ones ahead)
    for name, (bounds, *guards) in parts.items():
        assert bounds.startswith("FOR VALUES FROM ('"), name
        assert tuple(guards) == PARTITION_GUARDS, name

    march = "ledger_partitions.entries_2024_03"
    # Immutable for every role, through the parent and through the partition's own name.
    for dsn in (db.dsn, db.superuser_dsn):
        for statement in ("UPDATE ledger.entries SET amount = amount + 1", f"UPDATE {march} SET amount = amount + 1",
                          f"DELETE FROM {march}", f"TRUNCATE {march}", "TRUNCATE ledger.entries"):
            assert attempt(dsn, statement).sqlstate == "LDG02", (dsn, statement)
    # The writer and the reader cannot even name a partition: no write, no truncate, no read around
    # the parent; and only the owner attaches or detaches.
    for dsn in (db.writer_dsn, db.reader_dsn):
        for statement in (f"SELECT 1 FROM {march}", f"TRUNCATE {march}", f"DELETE FROM {march}",
                          f"INSERT INTO {march} SELECT * FROM ledger.entries LIMIT 1",
                          f"ALTER TABLE ledger.entries DETACH PARTITION {march}",
                          "CREATE TABLE ledger.entries_forged (LIKE ledger.entries)"):
            assert attempt(dsn, statement).sqlstate == "42501", (dsn, statement)
    assert attempt(db.writer_dsn, "CREATE TEMP TABLE forged (LIKE ledger.entries)",
                   "ALTER TABLE ledger.entries ATTACH PARTITION forged FOR VALUES FROM ('2030-01-01') TO ('2030-02-01')"
                   ).sqlstate in {"42501", "42P16"}
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.entries") == 4


def test_every_write_path_gets_the_partition_of_any_month(db):
    """Backdated and future months, by raw SQL as the writer, Ledger.post/reverse and a bulk plan."""
    before = len(partitions(db.dsn))  # the months made ahead of need
    post_sql(db.writer_dsn, "nineties", datetime(1999, 7, 4, 9, 30, tzinfo=UTC))
    ledger = open_ledger(db.writer_dsn)
    ledger.post(transfer("future", "assets:cash", "equity:capital", 7, at=datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC)))
    ledger.reverse("nineties", idempotency_key="nineties-undone", effective_at=datetime(2002, 2, 2, tzinfo=UTC))
    ledger.conn.close()
    b = PlanBuilder()
    b.post("bulk-1", [("assets:cash", "debit", 3, "USD"), ("equity:capital", "credit", 3, "USD")], at=datetime(1987, 10, 19, tzinfo=UTC))
    b.post("bulk-2", [("assets:cash", "debit", 4, "USD"), ("equity:capital", "credit", 4, "USD")], at=datetime(2040, 1, 1, tzinfo=UTC))
    b.reverse("bulk-3", key="future", at=datetime(2035, 6, 1, tzinfo=UTC))
    with psycopg.connect(db.writer_dsn) as conn, conn.transaction():
        counts = apply_plan(conn, b.build(), batch_id=str(uuid.uuid4()), account_types=ACCOUNT_TYPES).counts()
    assert counts["posted"] == 3 and counts["quarantined"] == 0
    names = set(partitions(db.dsn))
    for month in ("1999_07", "2031_12", "2002_02", "1987_10", "2040_01", "2035_06"):
        assert f"ledger_partitions.entries_{month}" in names
    # Each entry sits in the partition of its own month.
    assert scalar(db.dsn, """
        SELECT count(*) FROM ledger.entries
         WHERE tableoid::regclass::text <> 'ledger_partitions.entries_' || to_char(effective_at AT TIME ZONE 'UTC', 'YYYY_MM')""") == 0
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.entries") == 12
    # An effective time no month holds is refused before any partition would be made.
    outcome = attempt(db.writer_dsn, *transaction_statements("forever", effective_at="infinity")[1])
    assert outcome.sqlstate == "22007" and "finite" in outcome.message
    # Nor does one call make thousands of partitions.
    assert attempt(db.writer_dsn, "SELECT ledger.ensure_entry_partitions('1900-01-01', '2100-01-01')").sqlstate == "22023"
    assert len(partitions(db.dsn)) == before + 6


def test_concurrent_writers_needing_the_same_new_month_both_commit(db):
    go = threading.Barrier(2)
    results: list = []

    def write(key: str) -> None:
        go.wait(10)
        results.append(attempt(db.writer_dsn, *transaction_statements(key, effective_at=datetime(1995, 1, 15, tzinfo=UTC))[1]))

    threads = [threading.Thread(target=write, args=(k,)) for k in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.committed for r in results] == [True, True], results
    assert scalar(db.dsn, "SELECT count(*) FROM ledger_partitions.entries_1995_01") == 4


def test_ensuring_existing_partitions_is_a_lookup_without_a_lock(db):
    post_sql(db.writer_dsn, "march", MARCH)
    with connect(db.writer_dsn) as conn:
        conn.execute("BEGIN")
        assert conn.execute("SELECT ledger.ensure_entry_partitions(%s, %s)", [MARCH, MARCH]).fetchone()[0] == 0
        locks = conn.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND relation = 'ledger.entries'::regclass"
                             ).fetchone()[0]
        conn.execute("ROLLBACK")
    assert locks == 0


# How ledger.move_transaction and ledger.reverse_transaction read a transaction's legs (their
# target's effective_at from its transactions row, then the entries of that month only).
TRANSACTION_PAIRS = """
SELECT DISTINCT e.account_id::text, e.currency
  FROM ledger.transactions t
  JOIN ledger.entries e ON e.transaction_id = t.transaction_id AND e.effective_at = t.effective_at
 WHERE t.transaction_id = %(transaction_id)s::uuid
"""


def _executed_partitions(dsn: str, query: str, params: dict) -> set[str]:
    """The partitions of ledger.entries an EXPLAIN ANALYZE of ``query`` really scanned."""
    with connect(dsn) as conn:
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()[0][0]["Plan"]
    found = set()

    def walk(node: dict) -> None:
        if node.get("Relation Name", "").startswith("entries_") and node.get("Actual Loops", 0) > 0:
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return found


def test_lookups_by_transaction_id_and_balances_as_of_read_only_the_months_they_need(db):
    ids = {}
    for month in (1, 2, 3, 4, 5):
        at = datetime(2024, month, 15, tzinfo=UTC)
        ids[month], statements = transaction_statements(f"m{month}", effective_at=at)
        assert attempt(db.writer_dsn, *statements).committed
    # a transaction's legs: one partition, the one of its month
    assert _executed_partitions(db.reader_dsn, TRANSACTION_PAIRS, {"transaction_id": ids[3]}) == {"entries_2024_03"}
    with connect(db.reader_dsn) as conn:
        pairs = conn.execute(TRANSACTION_PAIRS, {"transaction_id": ids[3]}).fetchall()
    assert sorted(pairs) == sorted((scalar(db.dsn, "SELECT ledger.account_id_of(%s)::text", [code]), "USD")
                                   for code in ("assets:cash", "equity:capital"))
    # a balance as of mid-March: January to March only (balance_at from the whole history, no anchor)
    as_of = {"as_of": datetime(2024, 3, 20, tzinfo=UTC), "known_at": datetime(9999, 1, 1, tzinfo=UTC),
             "account_ids": None, "currency": None}
    scanned = _executed_partitions(db.reader_dsn, read_sql("ledger/balance_at.sql"), as_of)
    assert scanned and scanned <= {"entries_2024_01", "entries_2024_02", "entries_2024_03"}, scanned


def test_the_commit_check_is_not_fooled_by_an_early_check_or_legs_in_several_statements(db):
    # legs of one transaction in two statements: balanced and complete at commit
    tid = str(uuid.uuid4())
    assert attempt(db.writer_dsn, insert_transaction_sql(tid, "split"),
                   insert_entry_sql(tid, 0, "assets:cash", "debit", 5, "USD"),
                   insert_entry_sql(tid, 1, "equity:capital", "credit", 5, "USD")).committed
    # a check run early consumed nothing: a transaction created after it, without entries, while
    # another statement adds entries to the first one, is still refused at commit
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    outcome = attempt(
        db.writer_dsn,
        insert_transaction_sql(first, "first"),
        insert_entry_sql(first, 0, "assets:cash", "debit", 5, "USD"),
        insert_entry_sql(first, 1, "equity:capital", "credit", 5, "USD"),
        "SET CONSTRAINTS ALL IMMEDIATE",
        "SET CONSTRAINTS ALL DEFERRED",
        insert_transaction_sql(second, "second"),
        insert_entry_sql(first, 2, "assets:cash", "debit", 1, "USD"),
        insert_entry_sql(first, 3, "equity:capital", "credit", 1, "USD"),
    )
    assert outcome.sqlstate == "LDG07" and second in outcome.message, outcome
    # two transactions, only one with entries, in one statement each: refused
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    outcome = attempt(db.writer_dsn, insert_transaction_sql(one, "one"), insert_transaction_sql(two, "two"),
                      insert_entry_sql(one, 0, "assets:cash", "debit", 5, "USD"),
                      insert_entry_sql(one, 1, "equity:capital", "credit", 5, "USD"))
    assert outcome.sqlstate == "LDG07" and two in outcome.message, outcome
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.entries") == 2
    # the tallies of finished database transactions do not pile up
    assert attempt(db.writer_dsn, *transaction_statements("later", legs=USD_100)[1]).committed
    assert scalar(db.dsn, "SELECT count(DISTINCT xid) FROM ledger.commit_tallies") <= 1


def test_months_split_by_transaction_id_keep_the_guards_and_read_one_hash_partition(db):
    """hash_partitions = 4: the months made from then on have 4 leaves each, every leaf with the
    guards, and a transaction's legs are read in one leaf."""
    assert attempt(db.dsn, "UPDATE ledger.entry_partitioning SET hash_partitions = 4").committed
    assert attempt(db.writer_dsn, "UPDATE ledger.entry_partitioning SET hash_partitions = 1").sqlstate == "42501"
    tid, statements = transaction_statements("hashed", effective_at=MARCH)
    assert attempt(db.writer_dsn, *statements).committed
    leaves = scalar(db.dsn, """
        SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
         WHERE h.inhparent = 'ledger_partitions.entries_2024_03'::regclass""")
    assert leaves == [f"entries_2024_03_h{i}" for i in range(4)]
    holding = scalar(db.dsn, "SELECT tableoid::regclass::text FROM ledger.entries WHERE transaction_id = %s LIMIT 1", [tid])
    for leaf in leaves:
        name = f"ledger_partitions.{leaf}"
        assert scalar(db.dsn, "SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger WHERE tgrelid = %s::regclass",
                      [name]) == list(PARTITION_GUARDS[0])
        assert attempt(db.dsn, f"TRUNCATE {name}").sqlstate == "LDG02"
        assert attempt(db.writer_dsn, f"SELECT 1 FROM {name}").sqlstate == "42501"
    for statement in (f"DELETE FROM {holding}", f"UPDATE {holding} SET amount = 1"):
        assert attempt(db.dsn, statement).sqlstate == "LDG02", statement
    assert _executed_partitions(db.reader_dsn, TRANSACTION_PAIRS, {"transaction_id": tid}) == {
        holding.split(".")[1]}
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.entries") == 2
