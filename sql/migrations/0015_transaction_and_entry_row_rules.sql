-- depends: 0014_balance_row_rules
--
-- The per-rule CHECKs of ledger.transactions and ledger.entries are dropped: the same rules, under
-- the same names, are one SQL expression each (functions/ledger.transaction_row_problem.sql,
-- functions/ledger.entry_row_problem.sql) that the insert triggers check set-based for every
-- statement, the lifecycle trigger for every update, and ledger.post_transaction on its arguments.
-- Postgres read the stored expression of every CHECK afresh for each statement writing the table:
-- ten of them were 11% of a single posting's server instructions (bench/README.md, issue 16).
-- Rows already stored kept the CHECKs; nothing is read or rewritten.

ALTER TABLE ledger.transactions
    DROP CONSTRAINT IF EXISTS transactions_idempotency_key_check,
    DROP CONSTRAINT IF EXISTS transactions_status_check,
    DROP CONSTRAINT IF EXISTS transactions_metadata_check,
    DROP CONSTRAINT IF EXISTS posted_iff_posted_at,
    DROP CONSTRAINT IF EXISTS archived_iff_archived_at,
    DROP CONSTRAINT IF EXISTS a_transaction_does_not_reverse_itself;

ALTER TABLE ledger.entries
    DROP CONSTRAINT IF EXISTS entries_entry_no_check,
    DROP CONSTRAINT IF EXISTS entries_direction_check,
    DROP CONSTRAINT IF EXISTS entries_amount_check,
    DROP CONSTRAINT IF EXISTS entries_currency_check;
