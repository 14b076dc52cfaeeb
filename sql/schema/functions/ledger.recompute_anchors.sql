-- ledger.recompute_anchors(run_id): every stored anchor of run `run_id` (NULL: of every run)
-- recomputed from the entries -- the four sums and the entry count of its account/currency at
-- anchor_at, as the ledger stood at its run's snapshot (I14). ledger.replace_anchors refuses a run
-- whose anchors differ from this; `subledger verify` (anchors_match) and the Dagster check
-- anchors_match_entries compare every stored anchor with it.
--
-- One running sum per account/currency over its lifecycle events, set-based: an entry changes the
-- sums at most twice -- when it becomes effective (into its state then, ledger.entry_state: posted
-- if posted by then, nothing if archived by then, else pending) and, if it was pending then, when its transaction is
-- posted or archived. The sums are those of the entries' states now; the entries of transactions
-- created or moved after a run's snapshot (not visible in it: the anchor saw them not at all, or
-- still pending) are corrected per anchor, each found through the changed_xid index and the
-- anchors' primary key. The independent, full recomputation: `subledger verify` runs it over every
-- anchor; ledger.replace_anchors checks a run incrementally (ledger.expected_anchors) and runs this
-- only where that disagrees.
CREATE OR REPLACE FUNCTION ledger.recompute_anchors(p_run_id uuid)
RETURNS TABLE (
    run_id uuid, account_id uuid, currency text, anchor_at timestamptz,
    posted_debits bigint, posted_credits bigint, pending_debits bigint, pending_credits bigint, entry_count bigint
)
LANGUAGE sql STABLE AS $$
WITH anchors AS MATERIALIZED (
    SELECT a.run_id, a.account_id, a.currency, a.anchor_at, r.snapshot, r.snapshot_xmin
      FROM ledger.balance_anchors a
      JOIN ledger.balance_anchor_runs r ON r.run_id = a.run_id
     WHERE p_run_id IS NULL OR a.run_id = p_run_id
), pairs AS MATERIALIZED (
    SELECT DISTINCT a.account_id, a.currency FROM anchors a
), entries_now AS MATERIALIZED (
    SELECT e.account_id, e.currency, e.direction = 'debit' AS is_debit, e.amount, e.effective_at, t.status,
           coalesce(t.posted_at, t.archived_at) AS moved_at,
           ledger.entry_state(t.status, t.posted_at, t.archived_at, e.effective_at) AS state_then
      FROM pairs p
      JOIN ledger.entries e ON e.account_id = p.account_id AND e.currency = p.currency
      JOIN ledger.transactions t ON t.transaction_id = e.transaction_id
), events AS (
    SELECT n.account_id, n.currency, n.effective_at AS at, false AS is_anchor, NULL::uuid AS run_id, 1 AS n,
           CASE WHEN n.state_then = 'posted' AND n.is_debit THEN n.amount ELSE 0 END AS pd,
           CASE WHEN n.state_then = 'posted' AND NOT n.is_debit THEN n.amount ELSE 0 END AS pc,
           CASE WHEN n.state_then = 'pending' AND n.is_debit THEN n.amount ELSE 0 END AS qd,
           CASE WHEN n.state_then = 'pending' AND NOT n.is_debit THEN n.amount ELSE 0 END AS qc
      FROM entries_now n
    UNION ALL
    SELECT n.account_id, n.currency, n.moved_at, false, NULL, 0,
           CASE WHEN n.status = 'posted' AND n.is_debit THEN n.amount ELSE 0 END,
           CASE WHEN n.status = 'posted' AND NOT n.is_debit THEN n.amount ELSE 0 END,
           CASE WHEN n.is_debit THEN -n.amount ELSE 0 END,
           CASE WHEN NOT n.is_debit THEN -n.amount ELSE 0 END
      FROM entries_now n
     WHERE n.status <> 'pending' AND n.state_then = 'pending'
    UNION ALL
    -- the anchors themselves, after the events of their instant: they read the running sums
    SELECT a.account_id, a.currency, a.anchor_at, true, a.run_id, 0, 0, 0, 0, 0
      FROM anchors a
), running AS (
    SELECT v.run_id, v.account_id, v.currency, v.at, v.is_anchor,
           sum(v.pd) OVER w AS pd, sum(v.pc) OVER w AS pc, sum(v.qd) OVER w AS qd, sum(v.qc) OVER w AS qc,
           sum(v.n) OVER w AS n
      FROM events v
    WINDOW w AS (PARTITION BY v.account_id, v.currency ORDER BY v.at, v.is_anchor ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), changed AS MATERIALIZED (
    -- transactions created or moved after the oldest snapshot looked at: an index range scan of
    -- changed_xid, done first (the fence keeps the planner from starting at the anchors, whose
    -- row count it cannot know inside replace_anchors, and reading every entry before each one)
    SELECT t.transaction_id, t.effective_at, t.created_xid, t.changed_xid, t.status, t.posted_at, t.archived_at
      FROM ledger.transactions t
     WHERE t.changed_xid >= (SELECT min(y.snapshot_xmin) FROM anchors y)
), changed_entries AS MATERIALIZED (
    -- their entries (a second fence: the anchors are joined to these, never the other way round)
    SELECT e.account_id, e.currency, e.effective_at, e.direction = 'debit' AS is_debit, e.amount,
           t.created_xid, t.changed_xid, t.status, t.posted_at, t.archived_at
      FROM changed t
      JOIN ledger.entries e ON e.transaction_id = t.transaction_id AND e.effective_at = t.effective_at
), late AS (
    -- with the anchors of their pair at or after them whose snapshot did not see the change
    SELECT a.run_id, a.account_id, a.currency, a.anchor_at, l.is_debit, l.amount,
           pg_visible_in_snapshot(l.created_xid, a.snapshot) AS seen_pending,
           ledger.entry_state(l.status, l.posted_at, l.archived_at, a.anchor_at) = 'posted' AS posted_now,
           ledger.entry_state(l.status, l.posted_at, l.archived_at, a.anchor_at) = 'archived' AS gone_now
      FROM changed_entries l
     CROSS JOIN LATERAL (
            SELECT x.run_id, x.account_id, x.currency, x.anchor_at, xr.snapshot
              FROM ledger.balance_anchors x
              JOIN ledger.balance_anchor_runs xr ON xr.run_id = x.run_id
             WHERE x.account_id = l.account_id AND x.currency = l.currency AND x.anchor_at >= l.effective_at
               AND (p_run_id IS NULL OR x.run_id = p_run_id)
               AND NOT pg_visible_in_snapshot(l.changed_xid, xr.snapshot)) a
), corrections AS (
    -- what the anchor saw (pending, or nothing) minus what the running sums count (the state now)
    SELECT l.run_id, l.account_id, l.currency, l.anchor_at,
           sum(CASE WHEN l.posted_now AND l.is_debit THEN -l.amount ELSE 0 END) AS pd,
           sum(CASE WHEN l.posted_now AND NOT l.is_debit THEN -l.amount ELSE 0 END) AS pc,
           sum(CASE WHEN l.is_debit THEN (l.seen_pending::int - (NOT l.posted_now AND NOT l.gone_now)::int) * l.amount
                    ELSE 0 END) AS qd,
           sum(CASE WHEN NOT l.is_debit THEN (l.seen_pending::int - (NOT l.posted_now AND NOT l.gone_now)::int) * l.amount
                    ELSE 0 END) AS qc,
           sum(l.seen_pending::int - 1) AS n
      FROM late l
     GROUP BY l.run_id, l.account_id, l.currency, l.anchor_at
)
SELECT r.run_id, r.account_id, r.currency, r.at,
       (r.pd + coalesce(c.pd, 0))::bigint, (r.pc + coalesce(c.pc, 0))::bigint,
       (r.qd + coalesce(c.qd, 0))::bigint, (r.qc + coalesce(c.qc, 0))::bigint,
       (r.n + coalesce(c.n, 0))::bigint
  FROM running r
  LEFT JOIN corrections c
    ON c.run_id = r.run_id AND c.account_id = r.account_id AND c.currency = r.currency AND c.anchor_at = r.at
 WHERE r.is_anchor
$$;

REVOKE ALL ON FUNCTION ledger.recompute_anchors(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.recompute_anchors(uuid) TO subledger_writer, subledger_reader;
