-- ledger.normal_balance_of(code): the normal balance ('debit' or 'credit') of an account code, its
-- type's -- the ledger.account_types row of its top-level segment -- or NULL when that segment is
-- not a type. The rule of I6 that accounts_valid_on_insert enforces and that signs categories
-- (sql/ledger/category_membership.sql); the Python definition is
-- ledger_pipelines.ledger.accounts.normal_balance_of (pair test: tests/ledger/test_rule_pairs.py).
CREATE OR REPLACE FUNCTION ledger.normal_balance_of(code text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (SELECT t.normal_balance FROM ledger.account_types t WHERE t.top_segment = split_part(code, ':', 1));

REVOKE ALL ON FUNCTION ledger.normal_balance_of(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.normal_balance_of(text) TO subledger_writer, subledger_reader;
