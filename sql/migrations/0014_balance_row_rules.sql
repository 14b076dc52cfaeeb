-- depends: 0013_batch_balance_deltas
--
-- The per-rule CHECKs of ledger.balances give way to one CHECK, balances_row_rules, that calls a
-- plpgsql function holding the same rules (functions/ledger.is_valid_balance_row.sql, which adds it
-- after the migrations): Postgres read the stored expression of every CHECK afresh for each
-- statement writing the table, and a single posting updates its two balances in two statements
-- (bench/README.md, issue 16). Adding the new CHECK reads the table once.

ALTER TABLE ledger.balances
    DROP CONSTRAINT IF EXISTS balances_currency_check,
    DROP CONSTRAINT IF EXISTS balances_posted_debits_check,
    DROP CONSTRAINT IF EXISTS balances_posted_credits_check,
    DROP CONSTRAINT IF EXISTS balances_pending_debits_check,
    DROP CONSTRAINT IF EXISTS balances_pending_credits_check,
    DROP CONSTRAINT IF EXISTS balances_version_check;
