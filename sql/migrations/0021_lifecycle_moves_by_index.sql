-- depends: 0020_balance_anchors
--
-- Lifecycle moves reach the moved transactions' entries through the entries primary key
-- (transaction_id, entry_no) instead of a hash join over the whole entries table.
--
-- 0003's statement trigger ran with enable_nestloop = off (a nested loop over two transition
-- tables, which carry no statistics, is quadratic), which also turned its three joins from the
-- moved rows to ledger.entries into sequential scans: the cost of a move grew with the size of
-- the ledger (measured by bench/ingest_bench.py: 0.6 s per batch at the start, 2-3 s after 1M
-- events). Now the moved transaction ids are collected once (a hash join of the two transition
-- tables, still without nested loops) into an array, and entries are read with
-- `transaction_id = ANY (array)`, an index scan whatever the planner settings. Same effects,
-- same lock order, same audit rows as before (docs/invariants.md I5, I7).

CREATE OR REPLACE FUNCTION ledger.transactions_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    SET enable_nestloop = off AS $$
DECLARE
    moved_ids uuid[];
    touched_ids uuid[];
BEGIN
    SELECT coalesce(array_agg(n.transaction_id ORDER BY n.transaction_id)
                    FILTER (WHERE o.status = 'pending' AND n.status <> 'pending'), '{}'),
           coalesce(array_agg(n.transaction_id ORDER BY n.transaction_id), '{}')
      INTO moved_ids, touched_ids
      FROM new_rows n JOIN old_rows o ON o.transaction_id = n.transaction_id;

    -- Lock what the move changes in the global order (balances, then accounts, by key).
    PERFORM 1 FROM ledger.balances b
     WHERE (b.account_id, b.currency) IN (
            SELECT e.account_id, e.currency FROM ledger.entries e WHERE e.transaction_id = ANY (touched_ids))
     ORDER BY b.account_id, b.currency FOR UPDATE;
    PERFORM 1 FROM ledger.accounts a
     WHERE a.account_id IN (SELECT e.account_id FROM ledger.entries e WHERE e.transaction_id = ANY (touched_ids))
     ORDER BY a.account_id FOR UPDATE;

    IF cardinality(moved_ids) = 0 THEN
        RETURN NULL;
    END IF;

    WITH moved AS (
        SELECT n.transaction_id, n.status FROM new_rows n WHERE n.transaction_id = ANY (moved_ids)
    ), moved_entries AS MATERIALIZED (
        SELECT e.transaction_id, e.account_id, e.currency, e.direction, e.amount
          FROM ledger.entries e WHERE e.transaction_id = ANY (moved_ids)
    ), deltas AS (
        SELECT e.account_id, e.currency,
               coalesce(sum(e.amount) FILTER (WHERE m.status = 'posted' AND e.direction = 'debit'), 0) AS posted_debits,
               coalesce(sum(e.amount) FILTER (WHERE m.status = 'posted' AND e.direction = 'credit'), 0) AS posted_credits,
               coalesce(sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0) AS pending_debits,
               coalesce(sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0) AS pending_credits,
               count(*) AS moves
          FROM moved m JOIN moved_entries e ON e.transaction_id = m.transaction_id
         GROUP BY e.account_id, e.currency
    ), cache AS (
        UPDATE ledger.balances b
           SET posted_debits = b.posted_debits + d.posted_debits,
               posted_credits = b.posted_credits + d.posted_credits,
               pending_debits = b.pending_debits - d.pending_debits,
               pending_credits = b.pending_credits - d.pending_credits,
               version = b.version + d.moves,
               updated_at = now()
          FROM deltas d
         WHERE b.account_id = d.account_id AND b.currency = d.currency
        RETURNING 1
    )
    UPDATE ledger.accounts a
       SET lock_version = a.lock_version + m.moves
      FROM (SELECT account_id, sum(moves) AS moves FROM deltas GROUP BY account_id) m
     WHERE a.account_id = m.account_id;

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
