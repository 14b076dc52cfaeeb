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
    -- The signed posted balance (the normal side's sum less the other's), plus the pending entries
    -- on the normal side (pending) and less those on the other (pending, available); NULL for an
    -- unknown kind. Each sum is chosen by a CASE and the arithmetic written once: post_transaction
    -- evaluates this inline, and Postgres prepares each function call in it (a cast, a numeric
    -- operator, a text comparison) afresh in every database transaction, so a hot+cond posting
    -- pays for every one (bench/README.md, issue 16).
    RETURN CASE WHEN kind IN ('posted', 'pending', 'available') THEN
        (CASE normal_balance WHEN 'debit' THEN pd ELSE pc END)::numeric
        - CASE normal_balance WHEN 'debit' THEN pc ELSE pd END
        + CASE kind WHEN 'pending' THEN CASE normal_balance WHEN 'debit' THEN qd ELSE qc END ELSE 0 END
        - CASE kind WHEN 'posted' THEN 0 ELSE CASE normal_balance WHEN 'debit' THEN qc ELSE qd END END
    END;

REVOKE ALL ON FUNCTION ledger.balance_value(text, text, bigint, bigint, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.balance_value(text, text, bigint, bigint, bigint, bigint) TO subledger_writer, subledger_reader;
