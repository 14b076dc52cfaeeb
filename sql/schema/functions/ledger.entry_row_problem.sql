-- ledger.entry_row_problem(...): the rule of a single ledger.entries row that the row breaks, as
-- 'rule: what it says', or NULL when it keeps them all. The rules, each named as the CHECK it was
-- until migration 0015:
--   entries_entry_no_check   the entry number is not negative;
--   entries_direction_check  the direction is debit or credit;
--   entries_amount_check     the amount is positive (the direction gives the side);
--   entries_currency_check   the currency is three upper-case letters (ISO 4217 alpha-3).
-- A rule holds unless its test is false (NULL passes, as a CHECK's does; NOT NULL is the columns').
-- Kept by ledger.entries_after_insert (set-based, every insert but ledger.post_transaction's own)
-- and by ledger.post_transaction on its legs, for the reason ledger.transaction_row_problem.sql
-- gives; entries never change after their insert (ledger.reject_change). One expression, put
-- inline by the planner where it is called. tests/ledger/test_row_rules.py refuses each rule.
CREATE OR REPLACE FUNCTION ledger.entry_row_problem(entry_no integer, direction text, amount bigint, currency text)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN NOT (entry_no >= 0) THEN 'entries_entry_no_check: the entry number is not negative'
    WHEN NOT (direction IN ('debit', 'credit')) THEN 'entries_direction_check: the direction is debit or credit'
    WHEN NOT (amount > 0) THEN 'entries_amount_check: the amount is positive; the direction gives the side'
    WHEN NOT (currency ~ '^[A-Z]{3}$') THEN 'entries_currency_check: the currency is three upper-case letters'
END;

REVOKE ALL ON FUNCTION ledger.entry_row_problem(integer, text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.entry_row_problem(integer, text, bigint, text) TO subledger_writer, subledger_reader;
