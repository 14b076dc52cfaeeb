-- depends: 0013_batch_balance_deltas
--
-- The per-rule CHECKs of ledger.transactions and ledger.balances give way to one CHECK each that
-- calls a plpgsql function holding the same rules (functions/ledger.is_valid_transaction_row.sql,
-- ledger.is_valid_balance_row.sql, which add them after the migrations): Postgres read the stored
-- expression of every CHECK afresh for each statement writing the table, 11% of a single posting's
-- server instructions (bench/README.md, issue 16). Adding the new CHECKs reads each table once.

ALTER TABLE ledger.transactions
    DROP CONSTRAINT IF EXISTS transactions_idempotency_key_check,
    DROP CONSTRAINT IF EXISTS transactions_status_check,
    DROP CONSTRAINT IF EXISTS transactions_metadata_check,
    DROP CONSTRAINT IF EXISTS posted_iff_posted_at,
    DROP CONSTRAINT IF EXISTS archived_iff_archived_at,
    DROP CONSTRAINT IF EXISTS a_transaction_does_not_reverse_itself;

ALTER TABLE ledger.balances
    DROP CONSTRAINT IF EXISTS balances_currency_check,
    DROP CONSTRAINT IF EXISTS balances_posted_debits_check,
    DROP CONSTRAINT IF EXISTS balances_posted_credits_check,
    DROP CONSTRAINT IF EXISTS balances_pending_debits_check,
    DROP CONSTRAINT IF EXISTS balances_pending_credits_check,
    DROP CONSTRAINT IF EXISTS balances_version_check;
