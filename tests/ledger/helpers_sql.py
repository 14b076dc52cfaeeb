"""Raw-SQL helpers for the guard tests: run statements as one role, report the SQLSTATE that refused them.

Nothing here goes through the ledger's Python API: the point of these helpers is to talk to
Postgres the way any client with a role's credentials could.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

# Accounts every guard test starts with (code, normal balance, restricted currency or None).
ACCOUNTS = [
    ("assets:cash", "debit", None),
    ("equity:capital", "credit", None),
    ("liabilities:wallet", "credit", None),
    ("assets:yen_only", "debit", "JPY"),
]

USD_100 = [("assets:cash", "debit", 100, "USD"), ("equity:capital", "credit", 100, "USD")]


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: committed, or refused with a SQLSTATE at a statement or at COMMIT."""

    sqlstate: str | None
    at: str | None  # 'statement' | 'commit' | None when committed
    message: str = ""

    @property
    def committed(self) -> bool:
        return self.sqlstate is None


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True, **kwargs)
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def attempt(dsn: str, *statements: str | tuple[str, object]) -> Outcome:
    """Run ``statements`` in one database transaction on a fresh connection as the DSN's role."""
    with connect(dsn) as conn:
        conn.execute("BEGIN")
        for statement in statements:
            sql, params = statement if isinstance(statement, tuple) else (statement, None)
            try:
                conn.execute(sql, params)
            except psycopg.Error as exc:
                conn.execute("ROLLBACK")
                return Outcome(exc.sqlstate, "statement", exc.diag.message_primary or str(exc))
        try:
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            return Outcome(exc.sqlstate, "commit", exc.diag.message_primary or str(exc))
    return Outcome(None, None)


def insert_transaction_sql(transaction_id: str, key: str, status: str = "posted", effective_at: datetime = T0,
                           reverses: str | None = None) -> tuple[str, dict]:
    return (
        "INSERT INTO ledger.transactions (transaction_id, idempotency_key, status, effective_at, posted_at, reverses_transaction_id) "
        "VALUES (%(id)s, %(key)s, %(status)s, %(at)s, CASE WHEN %(status)s = 'posted' THEN %(at)s::timestamptz END, %(rev)s)",
        {"id": transaction_id, "key": key, "status": status, "at": effective_at, "rev": reverses},
    )


def insert_entry_sql(transaction_id: str, entry_no: int, account: str, direction: str, amount: int, currency: str,
                     effective_at: datetime = T0) -> tuple[str, dict]:
    return (
        "INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at) "
        "VALUES (%(id)s, %(n)s, ledger.account_id_of(%(account)s), %(direction)s, %(amount)s, %(currency)s, %(at)s)",
        {"id": transaction_id, "n": entry_no, "account": account, "direction": direction, "amount": amount,
         "currency": currency, "at": effective_at},
    )


def transaction_statements(key: str, legs=USD_100, status: str = "posted", effective_at: datetime = T0,
                           reverses: str | None = None, transaction_id: str | None = None) -> tuple[str, list]:
    """The statements that insert one transaction and its legs (one INSERT per leg)."""
    transaction_id = transaction_id or str(uuid.uuid4())
    statements = [insert_transaction_sql(transaction_id, key, status, effective_at, reverses)]
    statements += [insert_entry_sql(transaction_id, n, *leg, effective_at=effective_at) for n, leg in enumerate(legs)]
    return transaction_id, statements


def create_accounts(dsn: str, accounts=ACCOUNTS) -> None:
    with connect(dsn) as conn:
        for code, normal, currency in accounts:
            conn.execute(
                "INSERT INTO ledger.accounts (account_id, code, normal_balance, currency) "
                "VALUES (ledger.account_id_of(%s), %s, %s, %s) ON CONFLICT DO NOTHING",
                [code, code, normal, currency],
            )


def post_raw(dsn: str, key: str, legs=USD_100, status: str = "posted", effective_at: datetime = T0,
             reverses: str | None = None) -> str:
    """Insert a transaction through raw SQL (must commit); return its id."""
    transaction_id, statements = transaction_statements(key, legs, status, effective_at, reverses)
    outcome = attempt(dsn, *statements)
    assert outcome.committed, outcome
    return transaction_id


def move_sql(transaction_id: str, to_status: str, at: datetime = T0) -> tuple[str, dict]:
    return (
        "UPDATE ledger.transactions SET status = %(s)s, "
        "posted_at = CASE WHEN %(s)s = 'posted' THEN %(at)s::timestamptz END, "
        "archived_at = CASE WHEN %(s)s = 'archived' THEN %(at)s::timestamptz END "
        "WHERE transaction_id = %(id)s",
        {"s": to_status, "at": at, "id": transaction_id},
    )


def cached(dsn: str, account: str, currency: str = "USD") -> tuple[int, int, int, int, int] | None:
    """(posted_debits, posted_credits, pending_debits, pending_credits, version) of the cache row."""
    with connect(dsn) as conn:
        return conn.execute(
            "SELECT posted_debits, posted_credits, pending_debits, pending_credits, version FROM ledger.balances "
            "WHERE account_id = ledger.account_id_of(%s) AND currency = %s",
            [account, currency],
        ).fetchone()


def recomputed(dsn: str, account: str, currency: str = "USD") -> tuple[int, int, int, int]:
    """The same four sums recomputed from entries and transaction statuses, in SQL written here."""
    with connect(dsn) as conn:
        row = conn.execute(
            """
            SELECT coalesce(sum(e.amount) FILTER (WHERE t.status = 'posted' AND e.direction = 'debit'), 0),
                   coalesce(sum(e.amount) FILTER (WHERE t.status = 'posted' AND e.direction = 'credit'), 0),
                   coalesce(sum(e.amount) FILTER (WHERE t.status = 'pending' AND e.direction = 'debit'), 0),
                   coalesce(sum(e.amount) FILTER (WHERE t.status = 'pending' AND e.direction = 'credit'), 0)
              FROM ledger.entries e JOIN ledger.transactions t USING (transaction_id)
             WHERE e.account_id = ledger.account_id_of(%s) AND e.currency = %s
            """,
            [account, currency],
        ).fetchone()
    return tuple(int(v) for v in row)


def scalar(dsn: str, sql: str, params=None):
    with connect(dsn) as conn:
        return conn.execute(sql, params).fetchone()[0]


ENTRY_PARTITIONS = """
    SELECT c.oid::regclass::text, pg_get_expr(c.relpartbound, c.oid),
           (SELECT coalesce(array_agg(t.tgname::text ORDER BY t.tgname), '{}') FROM pg_trigger t WHERE t.tgrelid = c.oid),
           (SELECT coalesce(array_agg(d ORDER BY d), '{}')
              FROM (SELECT replace(pg_get_indexdef(i.indexrelid), c.relname, '<p>') AS d
                      FROM pg_index i WHERE i.indrelid = c.oid) defs)
      FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
     WHERE h.inhparent = 'ledger.entries'::regclass
     ORDER BY 1"""


def partitions(dsn: str) -> dict[str, tuple]:
    """Each partition of ledger.entries: (bounds, its triggers, its index definitions with its name masked)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(ENTRY_PARTITIONS).fetchall()
    return {name: (bounds, tuple(triggers), tuple(indexes)) for name, bounds, triggers, indexes in rows}
# What every partition of ledger.entries carries: the parent's row trigger, its own TRUNCATE trigger
# and the parent's two indexes.
PARTITION_GUARDS = (
    ("entries_are_immutable", "entries_are_not_truncated"),
    ("CREATE INDEX <p>_account_id_currency_effective_at_idx ON ledger_partitions.<p> USING btree (account_id, currency, effective_at)",
     "CREATE UNIQUE INDEX <p>_pkey ON ledger_partitions.<p> USING btree (transaction_id, entry_no, effective_at)"),
)
