-- ledger.transaction_row_problem(...): the rule of a single ledger.transactions row that the row
-- breaks, as 'rule: what it says', or NULL when it keeps them all. The rules, each named as the
-- CHECK it was until migration 0015:
--   transactions_idempotency_key_check     the idempotency key has 1 to 512 characters;
--   transactions_status_check              the status is pending, posted or archived;
--   transactions_metadata_check            metadata is a JSON object;
--   posted_iff_posted_at                   a posted transaction, and only it, has posted_at;
--   archived_iff_archived_at               an archived transaction, and only it, has archived_at;
--   a_transaction_does_not_reverse_itself  reverses_transaction_id is not its own id.
-- A rule holds unless its test is false (NULL passes, as a CHECK's does; NOT NULL is the columns').
--
-- Why not CHECK constraints: Postgres reads every CHECK's stored expression afresh (parse, plan,
-- compile) for each statement that writes the table, and a single posting writes the transaction
-- in a statement of its own: the six CHECKs of transactions and four of entries were 11% of a
-- posting's server instructions (bench/README.md, issue 16). The rules are kept instead by
--   * ledger.transactions_after_insert, set-based over each statement's new rows (every insert
--     but ledger.post_transaction's own, which the trigger skips), and before anything else it checks;
--   * ledger.transactions_before_update, for every row updated (the columns a move may change);
--   * ledger.post_transaction, on its own arguments, before it writes.
-- An SQL function of one expression: the planner puts the expression inline into each query and
-- plpgsql expression that calls it (no call per row), so the rules are written once, here.
-- tests/ledger/test_row_rules.py refuses each rule on its own, inserted and updated.
CREATE OR REPLACE FUNCTION ledger.transaction_row_problem(
    transaction_id uuid, idempotency_key text, status text, posted_at timestamptz, archived_at timestamptz,
    metadata jsonb, reverses_transaction_id uuid)
    RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN NOT (length(idempotency_key) BETWEEN 1 AND 512)
        THEN 'transactions_idempotency_key_check: the idempotency key has 1 to 512 characters'
    WHEN NOT (status IN ('pending', 'posted', 'archived'))
        THEN 'transactions_status_check: the status is pending, posted or archived'
    WHEN NOT (jsonb_typeof(metadata) = 'object')
        THEN 'transactions_metadata_check: metadata is a JSON object'
    WHEN NOT ((status = 'posted') = (posted_at IS NOT NULL))
        THEN 'posted_iff_posted_at: a posted transaction, and only it, has posted_at'
    WHEN NOT ((status = 'archived') = (archived_at IS NOT NULL))
        THEN 'archived_iff_archived_at: an archived transaction, and only it, has archived_at'
    WHEN NOT (reverses_transaction_id <> transaction_id)
        THEN 'a_transaction_does_not_reverse_itself: a transaction does not reverse itself'
END;

REVOKE ALL ON FUNCTION ledger.transaction_row_problem(uuid, text, text, timestamptz, timestamptz, jsonb, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.transaction_row_problem(uuid, text, text, timestamptz, timestamptz, jsonb, uuid)
    TO subledger_writer, subledger_reader;
