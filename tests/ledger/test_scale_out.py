"""docs/scale-out.md, proved where this machine can: the schema against Citus's rules for distributed
tables, and a settlement between two ledgers that leaves each balanced.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from ledger_pipelines.ledger.balances import balances
from ledger_pipelines.warehouse.checks import balanced_transactions_ledger, cache_drift
from tests.conftest import drop_database, make_database
from tests.ledger.helpers_ledger import open_ledger, snapshot, transfer

REFERENCE = "reference"
# docs/scale-out.md, step 2: how each ledger table would be distributed (a column: hash-distributed
# by it; REFERENCE: copied to every node). Tables distributed by the same column are co-located.
DISTRIBUTION = {
    "transactions": "transaction_id", "entries": "transaction_id",
    "balances": "account_id", "accounts": "account_id", "balance_anchors": "account_id", "category_members": "account_id",
    "account_types": REFERENCE, "categories": REFERENCE, "period_closures": REFERENCE, "balance_anchor_runs": REFERENCE,
    "entry_partitioning": REFERENCE, "chain": REFERENCE,
    "audit_log": "audit_id", "commit_checks": "xid", "unbalanced_nets": "xid", "commit_tallies": "xid",
    "batch_balance_deltas": "xid",
}
# The global unique keys docs/scale-out.md says must move to key tables before step 2.
KEYS_TO_MOVE = {
    ("transactions", "transactions_idempotency_key_key"),
    ("transactions", "transactions_transition_key"),
    ("transactions", "transactions_reversed_once"),
    ("accounts", "accounts_code_key"),
}


def _citus_rule_breaches(dsn: str) -> dict[str, set]:
    """What in the ledger schema breaks Citus's rules for the DISTRIBUTION above."""
    with psycopg.connect(dsn) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'ledger'::regnamespace AND c.relkind IN ('r', 'p') "
            "AND NOT c.relispartition").fetchall()}
        unique_keys = conn.execute("""
            SELECT t.relname, i.relname, array_agg(a.attname::text)
              FROM pg_index x
              JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
              JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (x.indkey)
             WHERE t.relnamespace = 'ledger'::regnamespace AND x.indisunique AND NOT t.relispartition
             GROUP BY t.relname, i.relname""").fetchall()
        sequences = conn.execute("""
            SELECT c.relname || '.' || a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE c.relnamespace = 'ledger'::regnamespace AND a.attnum > 0
               AND (a.attidentity <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval%%')""").fetchall()
        foreign_keys = conn.execute("""
            SELECT f.conname, s.relname, t.relname,
                   (SELECT array_agg(a.attname::text) FROM pg_attribute a WHERE a.attrelid = f.conrelid AND a.attnum = ANY (f.conkey))
              FROM pg_constraint f JOIN pg_class s ON s.oid = f.conrelid JOIN pg_class t ON t.oid = f.confrelid
             WHERE f.contype = 'f' AND s.relnamespace = 'ledger'::regnamespace AND NOT s.relispartition""").fetchall()
    breaches: dict[str, set] = {"undecided tables": tables - set(DISTRIBUTION), "unique keys": set(), "sequences": set(sequences),
                                "foreign keys": set()}
    for table, index, columns in unique_keys:
        column = DISTRIBUTION.get(table)
        if column not in (None, REFERENCE) and column not in columns:
            breaches["unique keys"].add((table, index))
    for name, source, target, columns in foreign_keys:
        source_by, target_by = DISTRIBUTION.get(source), DISTRIBUTION.get(target)
        allowed = target_by == REFERENCE or (source_by == target_by and source_by in columns)
        if not allowed:
            breaches["foreign keys"].add((source, name))
    return breaches


def test_the_schema_keys_against_citus_rules(ledger_db):
    """Citus distributes a table only if every primary and unique key holds its distribution column;
    ids come from no sequence; a foreign key points to a reference table or within a co-location
    group. What breaks them is exactly the list docs/scale-out.md gives."""
    breaches = _citus_rule_breaches(ledger_db.dsn)
    assert breaches == {"undecided tables": set(), "unique keys": KEYS_TO_MOVE, "sequences": set(), "foreign keys": set()}
    doc = (Path(__file__).parents[2] / "docs" / "scale-out.md").read_text()
    for needle in ("`idempotency_key`", "`transition_key`", "one reversal per target", "account `code`"):
        assert needle in doc


@pytest.fixture
def two_ledgers(pg_cluster):
    a, b = make_database(pg_cluster), make_database(pg_cluster)
    try:
        yield a, b
    finally:
        drop_database(pg_cluster, a.name)
        drop_database(pg_cluster, b.name)


def test_two_ledgers_settle_between_them_and_each_stays_balanced(two_ledgers):
    a, b = two_ledgers
    at = datetime(2024, 6, 28, 17, 0, tzinfo=UTC)
    ledger_a, ledger_b = open_ledger(a.writer_dsn, "settlement"), open_ledger(b.writer_dsn, "settlement")
    try:
        ledger_a.post(transfer("fund", "assets:cash", "equity:capital", 10_000, at=at))
        halves = {
            "a": (ledger_a, transfer("settle:s1:a", "assets:due_from:b", "assets:cash", 2_500, at=at)),
            "b": (ledger_b, transfer("settle:s1:b", "assets:cash", "liabilities:due_to:a", 2_500, at=at)),
        }
        for ledger, half in halves.values():
            assert ledger.post(half).created
        before = (snapshot(a.dsn), snapshot(b.dsn))
        for ledger, half in halves.values():  # a rerun of the settlement: duplicates on both sides
            assert not ledger.post(half).created
        assert (snapshot(a.dsn), snapshot(b.dsn)) == before

        for db in (a, b):
            for check in (balanced_transactions_ledger, cache_drift):
                result = check(db.reader_dsn)
                assert result.passed and result.checked_rows > 0, result.as_json()
        with psycopg.connect(a.reader_dsn) as conn_a, psycopg.connect(b.reader_dsn) as conn_b:
            due_from = {x.account: x for x in balances(conn_a, ["assets:due_from:b"])}["assets:due_from:b"]
            due_to = {x.account: x for x in balances(conn_b, ["liabilities:due_to:a"])}["liabilities:due_to:a"]
        assert due_from.posted == due_to.posted == 2_500  # the clearing accounts mirror each other
    finally:
        ledger_a.conn.close()
        ledger_b.conn.close()
