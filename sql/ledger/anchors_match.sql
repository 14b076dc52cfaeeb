-- Every stored balance anchor next to its recomputation from the entries at its instant, as the
-- ledger stood at its run's snapshot (ledger.recompute_anchors), with the differences (stored -
-- recomputed), and the lifecycle moves after it that balance_at would not look at because no anchor
-- follows them the same day (ledger.anchor_gaps). `subledger verify`: anchors_match.
WITH recomputed AS MATERIALIZED (  -- once, whatever plan the join below gets
    SELECT * FROM ledger.recompute_anchors(NULL)
), gaps AS (
    SELECT g.account_id, g.currency, g.anchor_at, count(*) AS uncovered_moves,
           min(g.moved_at) AS first_uncovered_move
      FROM ledger.anchor_gaps(NULL, NULL, NULL) g
     GROUP BY g.account_id, g.currency, g.anchor_at
)
SELECT coalesce(c.code, a.account_id::text) AS account, a.currency, a.anchor_at, a.run_id::text AS run_id,
       a.posted_debits, r.posted_debits AS recomputed_posted_debits,
       a.posted_credits, r.posted_credits AS recomputed_posted_credits,
       a.pending_debits, r.pending_debits AS recomputed_pending_debits,
       a.pending_credits, r.pending_credits AS recomputed_pending_credits,
       a.entry_count, r.entry_count AS recomputed_entry_count,
       a.posted_debits - r.posted_debits AS diff_posted_debits,
       a.posted_credits - r.posted_credits AS diff_posted_credits,
       a.pending_debits - r.pending_debits AS diff_pending_debits,
       a.pending_credits - r.pending_credits AS diff_pending_credits,
       a.entry_count - r.entry_count AS diff_entry_count,
       coalesce(g.uncovered_moves, 0) AS uncovered_moves, g.first_uncovered_move
  FROM ledger.balance_anchors a
  JOIN recomputed r
    ON r.account_id = a.account_id AND r.currency = a.currency AND r.anchor_at = a.anchor_at
  LEFT JOIN ledger.accounts c ON c.account_id = a.account_id
  LEFT JOIN gaps g ON g.account_id = a.account_id AND g.currency = a.currency AND g.anchor_at = a.anchor_at
 ORDER BY 1, a.currency, a.anchor_at
