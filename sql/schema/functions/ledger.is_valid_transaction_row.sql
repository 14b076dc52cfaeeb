-- ledger.is_valid_transaction_row(...): the rules of one row of ledger.transactions, for its CHECK
-- transactions_row_rules (below): an idempotency key of 1-512 characters; status pending, posted or
-- archived; metadata a JSON object; posted_at set iff posted and archived_at iff archived (I4); a
-- transaction does not reverse itself. True, or check_violation (23514) naming the broken rule.
--
-- Why a function, and a plpgsql one: Postgres reads each CHECK's stored expression tree afresh for
-- every statement that writes the table (ExecRelCheck: parse, plan, compile). The six per-rule
-- CHECKs this replaces (migration 0014) were 6% of a single posting's server instructions, one
-- expression of the same rules as much (the cost is the tree's size); the call of a function is a
-- small tree, and a plpgsql body is compiled once per session (a SQL function's body would be
-- inlined, and read again, at every statement). Measured with callgrind: bench/README.md, issue 16.
-- Proved rule by rule: tests/ledger/test_row_rules.py.
CREATE OR REPLACE FUNCTION ledger.is_valid_transaction_row(idempotency_key text, status text, metadata jsonb,
                                                           posted_at timestamptz, archived_at timestamptz,
                                                           reverses_transaction_id uuid, transaction_id uuid)
    RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF length(idempotency_key) BETWEEN 1 AND 512 AND status IN ('pending', 'posted', 'archived')
       AND jsonb_typeof(metadata) = 'object' AND (status = 'posted') = (posted_at IS NOT NULL)
       AND (status = 'archived') = (archived_at IS NOT NULL) AND reverses_transaction_id IS DISTINCT FROM transaction_id THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'check_violation', SCHEMA = 'ledger', TABLE = 'transactions', CONSTRAINT = 'transactions_row_rules',
        MESSAGE = format('transaction %s (%s) breaks transactions_row_rules: %s', transaction_id, left(idempotency_key, 80),
            CASE WHEN length(idempotency_key) NOT BETWEEN 1 AND 512
                     THEN format('its idempotency key has %s characters, not 1-512', length(idempotency_key))
                 WHEN status NOT IN ('pending', 'posted', 'archived')
                     THEN format('status %L is not pending, posted or archived', status)
                 WHEN jsonb_typeof(metadata) <> 'object' THEN format('metadata is a JSON %s, not an object', jsonb_typeof(metadata))
                 WHEN (status = 'posted') <> (posted_at IS NOT NULL) THEN 'posted_at is set if and only if it is posted'
                 WHEN (status = 'archived') <> (archived_at IS NOT NULL) THEN 'archived_at is set if and only if it is archived'
                 ELSE 'it reverses itself' END),
        HINT = 'Post through Ledger.post or ledger.post_transaction, which write valid rows.';
END
$$;

-- The CHECK that calls it (a CHECK cannot be replaced: a change of it is a migration that drops it,
-- and this file adds it again).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = 'ledger.transactions'::regclass AND conname = 'transactions_row_rules') THEN
        ALTER TABLE ledger.transactions ADD CONSTRAINT transactions_row_rules CHECK (
            ledger.is_valid_transaction_row(idempotency_key, status, metadata, posted_at, archived_at,
                                            reverses_transaction_id, transaction_id));
    END IF;
END
$$;
