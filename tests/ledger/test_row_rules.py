"""The rules of a single row of ledger.transactions, ledger.entries and ledger.balances. A cached
balance's are one CHECK that calls a plpgsql function (``balances_row_rules``:
functions/ledger.is_valid_balance_row.sql; migration 0014 replaced per-rule CHECKs, which Postgres
read afresh for every statement writing the table); a transaction's and an entry's are per-rule
CHECKs. Each rule is refused on its own, as the owner, whom no trigger's skip or privilege spares,
with a message naming it."""

from __future__ import annotations

import pytest

from tests.ledger.helpers_sql import T0, attempt, create_accounts, post_raw, scalar

CHECK_VIOLATION = "23514"

TRANSACTION = ("INSERT INTO ledger.transactions (transaction_id, idempotency_key, status, effective_at, posted_at, "
               "archived_at, metadata, reverses_transaction_id) "
               "VALUES ('00000000-0000-7000-8000-000000000001', %(key)s, %(status)s, %(at)s, %(posted_at)s, "
               "%(archived_at)s, %(metadata)s::jsonb, %(reverses)s::uuid)")
VALID_TRANSACTION = {"key": "k", "status": "posted", "at": T0, "posted_at": T0, "archived_at": None, "metadata": "{}",
                     "reverses": None}
ENTRY = ("INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at) "
         "VALUES ('00000000-0000-7000-8000-000000000002', %(entry_no)s, ledger.account_id_of('assets:cash'), "
         "%(direction)s, %(amount)s, %(currency)s, %(at)s)")
VALID_ENTRY = {"entry_no": 0, "direction": "debit", "amount": 5, "currency": "USD", "at": T0}
BALANCE = ("INSERT INTO ledger.balances (account_id, currency, posted_debits, posted_credits, pending_debits, "
           "pending_credits, version) VALUES (ledger.account_id_of('assets:cash'), %(currency)s, %(pd)s, %(pc)s, "
           "%(qd)s, %(qc)s, %(version)s)")
VALID_BALANCE = {"currency": "EUR", "pd": 0, "pc": 0, "qd": 0, "qc": 0, "version": 0}

# (what breaks the rule, statement, a valid row, the change that breaks it, what the refusal says)
BROKEN_RULES = [
    ("transaction key empty", TRANSACTION, VALID_TRANSACTION, {"key": ""}, "transactions_idempotency_key_check"),
    ("transaction key of 513 characters", TRANSACTION, VALID_TRANSACTION, {"key": "k" * 513},
     "transactions_idempotency_key_check"),
    ("unknown status", TRANSACTION, VALID_TRANSACTION, {"status": "void", "posted_at": None},
     "transactions_status_check"),
    ("metadata not an object", TRANSACTION, VALID_TRANSACTION, {"metadata": "[]"}, "transactions_metadata_check"),
    ("posted without posted_at", TRANSACTION, VALID_TRANSACTION, {"posted_at": None}, "posted_iff_posted_at"),
    ("pending with posted_at", TRANSACTION, VALID_TRANSACTION, {"status": "pending"}, "posted_iff_posted_at"),
    ("archived without archived_at", TRANSACTION, VALID_TRANSACTION, {"status": "archived", "posted_at": None},
     "archived_iff_archived_at"),
    ("posted with archived_at", TRANSACTION, VALID_TRANSACTION, {"archived_at": T0}, "archived_iff_archived_at"),
    ("reverses itself", TRANSACTION, VALID_TRANSACTION, {"reverses": "00000000-0000-7000-8000-000000000001"},
     "a_transaction_does_not_reverse_itself"),
    ("negative entry number", ENTRY, VALID_ENTRY, {"entry_no": -1}, "entries_entry_no_check"),
    ("neither debit nor credit", ENTRY, VALID_ENTRY, {"direction": "both"}, "entries_direction_check"),
    ("zero amount", ENTRY, VALID_ENTRY, {"amount": 0}, "entries_amount_check"),
    ("negative amount", ENTRY, VALID_ENTRY, {"amount": -5}, "entries_amount_check"),
    ("lower-case currency", ENTRY, VALID_ENTRY, {"currency": "usd"}, "entries_currency_check"),
    ("balance in a currency no entry has", BALANCE, VALID_BALANCE, {"currency": "EURO"},
     "currency 'EURO' is not three upper-case letters"),
    ("negative posted debits", BALANCE, VALID_BALANCE, {"pd": -1}, "posted -1/0, pending 0/0, version 0"),
    ("negative posted credits", BALANCE, VALID_BALANCE, {"pc": -1}, "posted 0/-1, pending 0/0, version 0"),
    ("negative pending debits", BALANCE, VALID_BALANCE, {"qd": -1}, "posted 0/0, pending -1/0, version 0"),
    ("negative pending credits", BALANCE, VALID_BALANCE, {"qc": -1}, "posted 0/0, pending 0/-1, version 0"),
    ("negative version", BALANCE, VALID_BALANCE, {"version": -1}, "posted 0/0, pending 0/0, version -1"),
]


@pytest.mark.parametrize(("rule", "statement", "valid", "broken", "says"), BROKEN_RULES, ids=[r[0] for r in BROKEN_RULES])
def test_each_rule_of_a_row_is_refused_on_its_own(ledger_db, rule, statement, valid, broken, says):
    create_accounts(ledger_db.dsn)
    assert attempt(ledger_db.dsn, ("SELECT ledger.ensure_entry_partitions(%s, %s)", [T0, T0])).committed
    outcome = attempt(ledger_db.dsn, (statement, {**valid, **broken}))
    assert outcome.sqlstate == CHECK_VIOLATION, (rule, outcome)
    assert says in str(outcome.message), outcome


def test_a_row_that_keeps_every_rule_passes_them(ledger_db):
    """The valid rows above meet the CHECKs (what refuses them otherwise is the other guards)."""
    create_accounts(ledger_db.dsn)
    assert attempt(ledger_db.dsn, (BALANCE, VALID_BALANCE)).committed
    post_raw(ledger_db.dsn, "valid")
    counts = scalar(ledger_db.dsn, "SELECT array_agg(n ORDER BY t) FROM (SELECT conrelid::regclass::text AS t, count(*) AS n "
                                   "FROM pg_constraint WHERE contype = 'c' AND conrelid IN "
                                   "('ledger.transactions'::regclass, 'ledger.entries'::regclass, 'ledger.balances'::regclass) "
                                   "GROUP BY 1) c")
    # balances, entries, transactions: a rule of a balance added as a CHECK of its own would be read
    # again at each of a posting's balance updates (ledger.is_valid_balance_row.sql).
    assert counts == [1, 4, 6]
