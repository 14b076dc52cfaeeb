-- ledger.anchor_gaps(account_ids, currencies, moved_from): the lifecycle moves dated at or after
-- moved_from (NULL: every move) that balance_at would not look at (I14), for the given
-- account/currency pairs (NULL: every anchored pair); the moves are read through
-- transactions_moves_by_time, so a window costs the moves dated in it. balance_at
-- (sql/ledger/balance_at.sql) reads the moves dated after its anchor A only from the start of the
-- day of T, from the end of A's run's coverage, or from the day of a later anchor --known-at
-- excluded; it relies on every move its run saw, of an entry A counted pending, dated inside the
-- run's coverage, having an anchor later the same day (in the run's time zone). A gap is such a move
-- without one: the entry, the anchor before the move, and the move. ledger.replace_anchors refuses
-- a run that leaves a gap; `subledger verify` (anchors_match) reports them.
CREATE OR REPLACE FUNCTION ledger.anchor_gaps(p_account_ids uuid[], p_currencies text[], p_moved_from timestamptz)
RETURNS TABLE (run_id uuid, account_id uuid, currency text, anchor_at timestamptz, transaction_id uuid, moved_at timestamptz)
LANGUAGE sql STABLE AS $$
WITH pairs AS (
    SELECT DISTINCT a.account_id, a.currency FROM ledger.balance_anchors a WHERE p_account_ids IS NULL
    UNION
    SELECT u.account_id, u.currency FROM unnest(p_account_ids, p_currencies) AS u(account_id, currency)
), moves AS (
    SELECT e.account_id, e.currency, e.effective_at, t.transaction_id, t.changed_xid,
           coalesce(t.posted_at, t.archived_at) AS moved_at
      FROM ledger.transactions t
     CROSS JOIN LATERAL (SELECT x.account_id, x.currency, x.effective_at FROM ledger.entries x
                          WHERE x.transaction_id = t.transaction_id AND x.effective_at = t.effective_at OFFSET 0) e
      JOIN pairs p ON p.account_id = e.account_id AND p.currency = e.currency
     WHERE t.status_changed_at IS NOT NULL
       AND coalesce(t.posted_at, t.archived_at) >= coalesce(p_moved_from, '-infinity'::timestamptz)
       AND coalesce(t.posted_at, t.archived_at) > e.effective_at
)
SELECT prev.run_id, m.account_id, m.currency, prev.anchor_at, m.transaction_id, m.moved_at
  FROM moves m
 CROSS JOIN LATERAL (
        SELECT a.run_id, a.anchor_at FROM ledger.balance_anchors a
         WHERE a.account_id = m.account_id AND a.currency = m.currency AND a.anchor_at < m.moved_at
         ORDER BY a.anchor_at DESC LIMIT 1) prev
  JOIN ledger.balance_anchor_runs r ON r.run_id = prev.run_id
  LEFT JOIN LATERAL (
        SELECT a.anchor_at FROM ledger.balance_anchors a
         WHERE a.account_id = m.account_id AND a.currency = m.currency AND a.anchor_at >= m.moved_at
         ORDER BY a.anchor_at LIMIT 1) next ON true
 WHERE prev.anchor_at >= m.effective_at                    -- the anchor counted the entry ...
   AND pg_visible_in_snapshot(m.changed_xid, r.snapshot)   -- ... and its run saw the move
   AND m.moved_at <= r.covered_until
   AND (next.anchor_at IS NULL OR date_trunc('day', next.anchor_at, r.timezone) > m.moved_at)
$$;

REVOKE ALL ON FUNCTION ledger.anchor_gaps(uuid[], text[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.anchor_gaps(uuid[], text[], timestamptz) TO subledger_writer, subledger_reader;
