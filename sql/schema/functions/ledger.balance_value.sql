-- ledger.balance_value(kind, normal_balance, posted_debits, posted_credits, pending_debits,
-- pending_credits): the posted, pending or available balance of the four cached sums, signed by
-- the normal balance -- the Postgres copy of the one definition
-- (ledger_pipelines.accounting.balances, docs/architecture.md "Balance definitions"), for the
-- balance conditions ledger.post_transaction checks while it holds the balance lock. numeric, so a
-- sum near the 64-bit range does not overflow (Python ints do not either). Pair test:
-- tests/ledger/test_single_post.py::test_balance_value_is_the_python_definition.
CREATE OR REPLACE FUNCTION ledger.balance_value(kind text, normal_balance text, pd bigint, pc bigint, qd bigint,
                                                qc bigint) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE kind
        WHEN 'posted' THEN CASE normal_balance WHEN 'debit' THEN pd::numeric - pc ELSE pc::numeric - pd END
        WHEN 'pending' THEN CASE normal_balance WHEN 'debit' THEN pd::numeric - pc + qd - qc ELSE pc::numeric - pd + qc - qd END
        WHEN 'available' THEN CASE normal_balance WHEN 'debit' THEN pd::numeric - pc - qc ELSE pc::numeric - pd - qd END
    END;

REVOKE ALL ON FUNCTION ledger.balance_value(text, text, bigint, bigint, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.balance_value(text, text, bigint, bigint, bigint, bigint) TO subledger_writer, subledger_reader;
