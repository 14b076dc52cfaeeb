"""The rules of a single row of ledger.transactions, ledger.entries and ledger.balances.

Postgres reads a CHECK's stored expression afresh for every statement that writes its table, so
(issue 16) no rule is a CHECK of its own:
* a cached balance's are one CHECK that calls a plpgsql function (``balances_row_rules``:
  functions/ledger.is_valid_balance_row.sql, migration 0014);
* a transaction's and an entry's are one SQL expression per table
  (functions/ledger.transaction_row_problem.sql, ledger.entry_row_problem.sql, migration 0015),
  checked set-based by the insert triggers, per row by the lifecycle trigger, and by
  ``ledger.post_transaction`` on its own arguments (the rows the triggers skip).
Each rule is refused on its own, with SQLSTATE 23514 and a message naming it: inserted as the
owner (no privilege spares the owner) and as the writer, updated, and posted through
``ledger.post_transaction``."""

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


# Each rule as the owner and, where the writer may insert the row at all, as the writer (balances
# are written by the posting functions only: the writer has no INSERT on them, sql/schema/ledger.sql).
# The writer's transaction leaves out archived_at, which it may not insert (it archives by a move).
WRITER_TRANSACTION = TRANSACTION.replace("archived_at, ", "").replace("%(archived_at)s, ", "")
CASES = [(name, statement, valid, broken, says, "owner") for name, statement, valid, broken, says in BROKEN_RULES] + [
    (name, WRITER_TRANSACTION if statement is TRANSACTION else statement, valid, broken, says, "writer")
    for name, statement, valid, broken, says in BROKEN_RULES if statement is not BALANCE and "archived_at" not in broken]


@pytest.mark.parametrize(("rule", "statement", "valid", "broken", "says", "role"), CASES,
                         ids=[f"{c[0]}-{c[-1]}" for c in CASES])
def test_each_rule_of_a_row_is_refused_on_its_own(ledger_db, rule, statement, valid, broken, says, role):
    create_accounts(ledger_db.dsn)
    assert attempt(ledger_db.dsn, ("SELECT ledger.ensure_entry_partitions(%s, %s)", [T0, T0])).committed
    dsn = ledger_db.dsn if role == "owner" else ledger_db.writer_dsn
    outcome = attempt(dsn, (statement, {**valid, **broken}))
    assert outcome.sqlstate == CHECK_VIOLATION, (rule, outcome)
    assert says in str(outcome.message), outcome


def test_a_row_that_keeps_every_rule_passes_them(ledger_db):
    """The valid rows above keep the rules (what refuses them otherwise is the other guards)."""
    create_accounts(ledger_db.dsn)
    assert attempt(ledger_db.dsn, (BALANCE, VALID_BALANCE)).committed
    post_raw(ledger_db.dsn, "valid")
    counts = scalar(ledger_db.dsn, "SELECT array_agg(t ORDER BY t) FROM (SELECT conrelid::regclass::text AS t "
                                   "FROM pg_constraint WHERE contype = 'c' AND conrelid IN "
                                   "('ledger.transactions'::regclass, 'ledger.entries'::regclass, 'ledger.balances'::regclass)) c")
    # One CHECK (balances_row_rules): a rule added as a CHECK of its own would be read again at
    # every statement of a posting that writes its table (ledger.transaction_row_problem.sql).
    assert counts == ["ledger.balances"]


# (the move, what the refusal says): an update keeps the row rules too (transactions_before_update).
BROKEN_MOVES = [
    ("UPDATE ledger.transactions SET status = 'posted' WHERE transaction_id = %(id)s", "posted_iff_posted_at"),
    ("UPDATE ledger.transactions SET status = 'archived' WHERE transaction_id = %(id)s", "archived_iff_archived_at"),
    ("UPDATE ledger.transactions SET status = 'posted', posted_at = %(at)s, archived_at = %(at)s "
     "WHERE transaction_id = %(id)s", "archived_iff_archived_at"),
]


@pytest.mark.parametrize("role", ["owner", "writer"])
@pytest.mark.parametrize(("move", "says"), BROKEN_MOVES, ids=[m[1] + str(i) for i, m in enumerate(BROKEN_MOVES)])
def test_a_move_that_breaks_a_rule_is_refused(ledger_db, move, says, role):
    create_accounts(ledger_db.dsn)
    pending = post_raw(ledger_db.dsn, "pending", status="pending")
    dsn = ledger_db.dsn if role == "owner" else ledger_db.writer_dsn
    outcome = attempt(dsn, (move, {"id": pending, "at": T0}))
    assert outcome.sqlstate == CHECK_VIOLATION, outcome
    assert says in str(outcome.message), outcome
    assert scalar(ledger_db.dsn, "SELECT status FROM ledger.transactions WHERE transaction_id = %s", [pending]) == "pending"


POST = ("SELECT created FROM ledger.post_transaction(gen_random_uuid(), %(key)s, 'posted', %(at)s, 'h', "
        "'{assets:cash,equity:capital}', %(directions)s, %(amounts)s, %(currencies)s, p_metadata => %(metadata)s::jsonb)")
VALID_POST = {"key": "p", "at": T0, "directions": ["debit", "credit"], "amounts": [5, 5], "currencies": ["USD", "USD"],
              "metadata": "{}"}
# (what breaks a rule, the change to a valid posting, what the refusal says)
BROKEN_POSTINGS = [
    ("key of 513 characters", {"key": "k" * 513}, "transactions_idempotency_key_check"),
    ("empty key", {"key": ""}, "transactions_idempotency_key_check"),
    ("metadata not an object", {"metadata": "[1]"}, "transactions_metadata_check"),
    ("neither debit nor credit", {"directions": ["debit", "both"]}, "entries_direction_check"),
    ("zero amounts", {"amounts": [0, 0]}, "entries_amount_check"),
    ("negative amounts", {"amounts": [-5, -5]}, "entries_amount_check"),
    ("lower-case currency", {"currencies": ["usd", "usd"]}, "entries_currency_check"),
]


@pytest.mark.parametrize(("rule", "broken", "says"), BROKEN_POSTINGS, ids=[b[0] for b in BROKEN_POSTINGS])
def test_post_transaction_keeps_the_rules_of_the_rows_the_triggers_skip(ledger_db, rule, broken, says):
    """ledger.post_transaction's rows skip the insert triggers (accepted_by_posting_call), so it
    checks their row rules itself, before writing anything."""
    create_accounts(ledger_db.dsn)
    assert attempt(ledger_db.writer_dsn, (POST, VALID_POST)).committed
    outcome = attempt(ledger_db.writer_dsn, (POST, {**VALID_POST, "key": "q", **broken}))
    assert outcome.sqlstate == CHECK_VIOLATION, (rule, outcome)
    assert says in str(outcome.message), outcome
    assert scalar(ledger_db.dsn, "SELECT count(*) FROM ledger.transactions") == 1
