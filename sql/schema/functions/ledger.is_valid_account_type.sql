-- ledger.is_valid_account_type(top_segment): an account type -- the top-level segment of account
-- codes, a row of ledger.account_types -- is one valid segment in lower case ('Equity' is refused,
-- never folded to 'equity'), as the Python definition says
-- (ledger_pipelines.ledger.accounts.account_type_problem; pair test: tests/ledger/test_rule_pairs.py).
CREATE OR REPLACE FUNCTION ledger.is_valid_account_type(top_segment text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ledger.is_valid_account_code(top_segment)
       AND position(':' IN top_segment) = 0
       AND top_segment = lower(top_segment);

REVOKE ALL ON FUNCTION ledger.is_valid_account_type(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.is_valid_account_type(text) TO subledger_writer, subledger_reader;

-- Types added from now on follow the rule. NOT VALID: types recorded before the rule existed
-- (0.1.0 accepted upper case and invisible characters) are kept, not refused by an upgrade.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = 'ledger.account_types'::regclass AND conname = 'account_types_are_lower_case') THEN
        ALTER TABLE ledger.account_types
            ADD CONSTRAINT account_types_are_lower_case CHECK (ledger.is_valid_account_type(top_segment)) NOT VALID;
    END IF;
END
$$;
