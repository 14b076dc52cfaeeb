-- ledger.transactions_after_update(): a lifecycle move carries the moved entries from the pending to
-- the posted sums (posted) or out of the cache (archived), bumps the balances' versions (and so the
-- accounts' lock_version, ledger.lock_version) by one per moved entry, and writes the audit log --
-- all in the statement that moves (I8, I9). Locks what it changes in the global order (balances by key).
-- The moved entries are read through the entries' primary key (transaction_id = ANY (array)), an
-- index scan whatever the planner settings, in the monthly partitions between the earliest and the
-- latest effective_at of the moved transactions only; enable_nestloop is off because transition
-- tables carry no statistics and a nested loop over two of them is quadratic.
CREATE OR REPLACE FUNCTION ledger.transactions_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    SET enable_nestloop = off AS $$
DECLARE
    moved_ids uuid[];
    touched_ids uuid[];
    earliest timestamptz;
    latest timestamptz;
BEGIN
    SELECT coalesce(array_agg(n.transaction_id ORDER BY n.transaction_id)
                    FILTER (WHERE o.status = 'pending' AND n.status <> 'pending'), '{}'),
           coalesce(array_agg(n.transaction_id ORDER BY n.transaction_id), '{}'),
           min(n.effective_at), max(n.effective_at)
      INTO moved_ids, touched_ids, earliest, latest
      FROM new_rows n JOIN old_rows o ON o.transaction_id = n.transaction_id;

    -- Lock what the move changes in the global order (balances by key).
    PERFORM 1 FROM ledger.balances b
     WHERE (b.account_id, b.currency) IN (
            SELECT e.account_id, e.currency FROM ledger.entries e
             WHERE e.transaction_id = ANY (touched_ids) AND e.effective_at BETWEEN earliest AND latest)
     ORDER BY b.account_id, b.currency FOR UPDATE;

    IF cardinality(moved_ids) = 0 THEN
        RETURN NULL;
    END IF;

    WITH moved AS (
        SELECT n.transaction_id, n.status FROM new_rows n WHERE n.transaction_id = ANY (moved_ids)
    ), moved_entries AS MATERIALIZED (
        SELECT e.transaction_id, e.account_id, e.currency, e.direction, e.amount
          FROM ledger.entries e WHERE e.transaction_id = ANY (moved_ids) AND e.effective_at BETWEEN earliest AND latest
    ), deltas AS (
        SELECT e.account_id, e.currency,
               coalesce(sum(e.amount) FILTER (WHERE m.status = 'posted' AND e.direction = 'debit'), 0) AS posted_debits,
               coalesce(sum(e.amount) FILTER (WHERE m.status = 'posted' AND e.direction = 'credit'), 0) AS posted_credits,
               coalesce(sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0) AS pending_debits,
               coalesce(sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0) AS pending_credits,
               count(*) AS moves
          FROM moved m JOIN moved_entries e ON e.transaction_id = m.transaction_id
         GROUP BY e.account_id, e.currency
    )
    UPDATE ledger.balances b
       SET posted_debits = b.posted_debits + d.posted_debits,
           posted_credits = b.posted_credits + d.posted_credits,
           pending_debits = b.pending_debits - d.pending_debits,
           pending_credits = b.pending_credits - d.pending_credits,
           version = b.version + d.moves,
           updated_at = now()
      FROM deltas d
     WHERE b.account_id = d.account_id AND b.currency = d.currency;

    INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
    SELECT 'transaction.' || n.status, 'transaction', n.transaction_id::text,
           jsonb_build_object('status', o.status),
           jsonb_build_object('status', n.status, 'posted_at', n.posted_at, 'archived_at', n.archived_at,
                              'transition_key', n.transition_key)
      FROM new_rows n JOIN old_rows o ON o.transaction_id = n.transaction_id
     WHERE n.transaction_id = ANY (moved_ids);
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ledger.transactions_after_update() FROM PUBLIC;

CREATE OR REPLACE TRIGGER transactions_apply_lifecycle AFTER UPDATE ON ledger.transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.transactions_after_update();
