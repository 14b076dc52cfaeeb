-- ledger.is_valid_balance_row(...): the rules of one cached balance, for its CHECK
-- balances_row_rules (below): a currency an entry can have (three upper-case letters, migration
-- 0006; security.md W4) and no negative sum or version. True, or check_violation (23514) naming the
-- broken rule.
--
-- Why a function, and a plpgsql one: Postgres reads each CHECK's stored expression tree afresh for
-- every statement that writes the table (ExecRelCheck: parse, plan, compile), and a single posting
-- updates its two balances in two statements. The six per-rule CHECKs this replaces (migration
-- 0014) were 5% of a single posting's server instructions, one expression of the same rules as
-- much (the cost is the tree's size); the call of a function is a small tree, and a plpgsql body is
-- compiled once per session (a SQL function's would be inlined, and read again, at every
-- statement). The price is a function call per row written, which the bulk path pays per balance
-- (not per entry). The rows of transactions and entries keep per-rule CHECKs: the bulk path
-- writes them by the hundred thousand, where a call per row cost more than the parse saved.
-- Measured with callgrind and bench.ingest_bench: bench/README.md, issue 16.
-- Proved rule by rule: tests/ledger/test_row_rules.py.
CREATE OR REPLACE FUNCTION ledger.is_valid_balance_row(currency text, posted_debits bigint, posted_credits bigint,
                                                       pending_debits bigint, pending_credits bigint, version bigint)
    RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF currency ~ '^[A-Z]{3}$' AND posted_debits >= 0 AND posted_credits >= 0 AND pending_debits >= 0
       AND pending_credits >= 0 AND version >= 0 THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'check_violation', SCHEMA = 'ledger', TABLE = 'balances', CONSTRAINT = 'balances_row_rules',
        MESSAGE = format('a cached balance breaks balances_row_rules: %s',
            CASE WHEN currency !~ '^[A-Z]{3}$' THEN format('currency %L is not three upper-case letters', currency)
                 ELSE format('a sum or the version is negative (posted %s/%s, pending %s/%s, version %s)',
                             posted_debits, posted_credits, pending_debits, pending_credits, version) END),
        HINT = 'Balances are written by the posting functions; rebuild a damaged one from its entries (subledger verify).';
END
$$;

-- The CHECK that calls it (a change of it is a migration that drops it; this file adds it again).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = 'ledger.balances'::regclass AND conname = 'balances_row_rules') THEN
        ALTER TABLE ledger.balances ADD CONSTRAINT balances_row_rules CHECK (
            ledger.is_valid_balance_row(currency, posted_debits, posted_credits, pending_debits, pending_credits,
                                        version));
    END IF;
END
$$;
