-- ledger.expected_anchors(snapshot, anchors): what each proposed anchor must say (I14) -- the four
-- sums and the entry count of its account/currency at anchor_at as the ledger stood at `snapshot`
-- -- derived from the anchor before it instead of from every entry, so that checking a run costs
-- what changed since the last verified anchor, not the account's history. ledger.replace_anchors
-- calls it before it replaces anything (the stored anchors are the bases); where it disagrees with
-- a proposal, replace_anchors falls back to the full recomputation (ledger.recompute_anchors),
-- which decides. The pair test tests/warehouse/test_anchor_check.py holds both equal on random
-- ledgers.
--
-- The base B of a proposed anchor P (instant T) is the latest of: the stored anchor at or before T
-- (verified when it was written; its run's snapshot W_B), the proposed anchor before P (same
-- snapshot W as P; preferred at the same instant), none (zero sums at -infinity). With c(e, a, W)
-- the contribution of entry e at instant a as seen by snapshot W (nothing unless e is effective by
-- a and its transaction visible in W; then its ledger.entry_state at a, 'pending' if W does not see
-- its move):
--   P = B + D1 + D2,  D1 = sum over e of c(e, T, W) - c(e, a_B, W),  D2 = sum over e of c(e, a_B, W) - c(e, a_B, W_B)
-- D1 (same snapshot, later instant) is nonzero only for
--   * entries effective in (a_B, T]                           entries_by_account, per anchor;
--   * entries effective by a_B whose move W sees is dated     transactions_moves_by_time over the
--     in (a_B, T]                                             union of the (a_B, T] windows, then
--                                                             the entries' key;
-- D2 (same instant, other snapshot; only for stored bases) only for entries effective by a_B of
-- transactions W and W_B see differently: changed_xid at or above the lower of the two xmins
-- (transactions_by_changed_xid), summed per base run as a running sum over their effective and
-- move instants. Every contribution is a signed row (sign, direction, amount, state; state NULL:
-- not counted), summed per proposed anchor at the end.
CREATE OR REPLACE FUNCTION ledger.expected_anchors(
    p_snapshot pg_snapshot, p_account_ids uuid[], p_currencies text[], p_anchor_ats timestamptz[],
    p_posted_debits bigint[], p_posted_credits bigint[], p_pending_debits bigint[], p_pending_credits bigint[],
    p_entry_counts bigint[]
) RETURNS TABLE (
    account_id uuid, currency text, anchor_at timestamptz, base_at timestamptz, base_run_id uuid,
    posted_debits bigint, posted_credits bigint, pending_debits bigint, pending_credits bigint, entry_count bigint
)
-- (no JIT: the planner cannot know how many anchors and changes there are, and compiling the
-- plan took longer than running it)
LANGUAGE sql STABLE SET jit = off AS $$
WITH proposed AS MATERIALIZED (
    SELECT u.account_id, u.currency, u.anchor_at,
           row_number() OVER w AS i,
           lag(u.anchor_at) OVER w AS prev_at,
           lag(u.pd) OVER w AS prev_pd, lag(u.pc) OVER w AS prev_pc, lag(u.qd) OVER w AS prev_qd,
           lag(u.qc) OVER w AS prev_qc, lag(u.n) OVER w AS prev_n
      FROM unnest(p_account_ids, p_currencies, p_anchor_ats, p_posted_debits, p_posted_credits, p_pending_debits,
                  p_pending_credits, p_entry_counts) AS u(account_id, currency, anchor_at, pd, pc, qd, qc, n)
    WINDOW w AS (PARTITION BY u.account_id, u.currency ORDER BY u.anchor_at)
), based AS MATERIALIZED (
    SELECT p.account_id, p.currency, p.anchor_at, p.i, b.*
      FROM proposed p
      LEFT JOIN LATERAL (
            SELECT x.anchor_at, x.run_id, r.snapshot, x.posted_debits, x.posted_credits, x.pending_debits,
                   x.pending_credits, x.entry_count
              FROM ledger.balance_anchors x
              JOIN ledger.balance_anchor_runs r ON r.run_id = x.run_id
             WHERE x.account_id = p.account_id AND x.currency = p.currency AND x.anchor_at <= p.anchor_at
             ORDER BY x.anchor_at DESC
             LIMIT 1) s ON true
     CROSS JOIN LATERAL (
            SELECT c.* FROM (
                SELECT p.prev_at, NULL::uuid, NULL::pg_snapshot, p.prev_pd, p.prev_pc, p.prev_qd, p.prev_qc, p.prev_n, 1
                 WHERE p.prev_at IS NOT NULL
                UNION ALL
                SELECT s.anchor_at, s.run_id, s.snapshot, s.posted_debits, s.posted_credits, s.pending_debits,
                       s.pending_credits, s.entry_count, 0
                 WHERE s.anchor_at IS NOT NULL
                UNION ALL
                SELECT '-infinity'::timestamptz, NULL::uuid, NULL::pg_snapshot, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint, -1
            ) AS c(base_at, base_run_id, base_snapshot, bpd, bpc, bqd, bqc, bn, preference)
             ORDER BY c.base_at DESC, c.preference DESC
             LIMIT 1) b
), gap_entries AS (
    -- D1: entries effective in (a_B, T], in their state at T (they counted nothing at a_B)
    -- (one index range per anchor: OFFSET 0 keeps the planner from joining every entry of the
    -- account to every anchor instead)
    SELECT b.account_id, b.currency, b.anchor_at, 1 AS sign, e.direction = 'debit' AS is_debit, e.amount,
           CASE WHEN pg_visible_in_snapshot(t.created_xid, p_snapshot) THEN
                ledger.entry_state(CASE WHEN pg_visible_in_snapshot(t.changed_xid, p_snapshot) THEN t.status ELSE 'pending' END,
                                   t.posted_at, t.archived_at, b.anchor_at)
           END AS state
      FROM based b
     CROSS JOIN LATERAL (SELECT x.transaction_id, x.direction, x.amount FROM ledger.entries x
                          WHERE x.account_id = b.account_id AND x.currency = b.currency
                            AND x.effective_at > b.base_at AND x.effective_at <= b.anchor_at OFFSET 0) e
      JOIN ledger.transactions t ON t.transaction_id = e.transaction_id
     WHERE b.base_at < b.anchor_at
), windows AS (
    SELECT unnest(range_agg(tstzrange(b.base_at, b.anchor_at, '(]'))) AS w FROM based b WHERE b.base_at < b.anchor_at
), moved AS MATERIALIZED (
    -- D1: moves W sees, dated inside a window, of transactions W sees (one index range per window)
    SELECT t.transaction_id, t.effective_at, t.status, t.posted_at, t.archived_at,
           coalesce(t.posted_at, t.archived_at) AS moved_at
      FROM windows w
      JOIN ledger.transactions t
        ON t.status_changed_at IS NOT NULL
       AND coalesce(t.posted_at, t.archived_at) > lower(w.w) AND coalesce(t.posted_at, t.archived_at) <= upper(w.w)
     WHERE pg_visible_in_snapshot(t.changed_xid, p_snapshot) AND pg_visible_in_snapshot(t.created_xid, p_snapshot)
), moved_entries AS MATERIALIZED (
    SELECT e.account_id, e.currency, e.effective_at, e.direction = 'debit' AS is_debit, e.amount,
           m.status, m.posted_at, m.archived_at, m.moved_at
      FROM moved m
     CROSS JOIN LATERAL (SELECT x.* FROM ledger.entries x
                          WHERE x.transaction_id = m.transaction_id AND x.effective_at = m.effective_at OFFSET 0) e
     WHERE EXISTS (SELECT 1 FROM proposed p WHERE p.account_id = e.account_id AND p.currency = e.currency)
), move_sequence AS (
    -- each move with the number of its pair's proposed anchors dated before it: it belongs to the
    -- next one, if the move is after that anchor's base
    SELECT q.*, count(*) FILTER (WHERE q.is_anchor) OVER (PARTITION BY q.account_id, q.currency ORDER BY q.at, q.is_anchor
                                                           ROWS UNBOUNDED PRECEDING) AS anchors_before
      FROM (SELECT m.account_id, m.currency, m.moved_at AS at, false AS is_anchor, m.effective_at, m.is_debit, m.amount,
                   m.status, m.posted_at, m.archived_at
              FROM moved_entries m
            UNION ALL
            SELECT b.account_id, b.currency, b.anchor_at, true, NULL, NULL, NULL, NULL, NULL, NULL
              FROM based b) q
), move_changes AS (
    SELECT b.account_id, b.currency, b.anchor_at, s.sign, q.is_debit, q.amount,
           ledger.entry_state(q.status, q.posted_at, q.archived_at, s.at) AS state
      FROM move_sequence q
      JOIN based b ON b.account_id = q.account_id AND b.currency = q.currency AND b.i = q.anchors_before + 1
     CROSS JOIN LATERAL (VALUES (1, b.anchor_at), (-1, b.base_at)) AS s(sign, at)
     WHERE NOT q.is_anchor AND q.at > b.base_at AND q.effective_at <= b.base_at
), stored_bases AS MATERIALIZED (
    SELECT b.* FROM based b WHERE b.base_run_id IS NOT NULL AND b.base_snapshot::text <> p_snapshot::text
), changed AS MATERIALIZED (
    -- D2: transactions the stored bases' snapshots and W may see differently (an index range scan,
    -- first: the fence keeps the planner from starting anywhere else)
    SELECT t.transaction_id, t.effective_at, t.created_xid, t.changed_xid, t.status, t.posted_at, t.archived_at,
           coalesce(t.posted_at, t.archived_at) AS moved_at
      FROM ledger.transactions t
     WHERE t.changed_xid >= (SELECT CASE WHEN count(*) > 0
                                         THEN least(min(pg_snapshot_xmin(s.base_snapshot)), pg_snapshot_xmin(p_snapshot)) END
                               FROM stored_bases s)
), changed_entries AS MATERIALIZED (
    SELECT e.account_id, e.currency, e.effective_at, e.direction = 'debit' AS is_debit, e.amount,
           c.created_xid, c.changed_xid, c.status, c.posted_at, c.archived_at, c.moved_at
      FROM changed c
     CROSS JOIN LATERAL (SELECT x.* FROM ledger.entries x
                          WHERE x.transaction_id = c.transaction_id AND x.effective_at = c.effective_at OFFSET 0) e
), base_runs AS (
    SELECT DISTINCT ON (s.account_id, s.currency, s.base_run_id) s.account_id, s.currency, s.base_run_id, s.base_snapshot
      FROM stored_bases s
), snapshot_changes AS (
    -- c(e, a, W) - c(e, a, W_B) as a running sum over a: its value at the entry's effective instant,
    -- then its change at the move; each (sign, snapshot, instant) one contribution row
    SELECT r.account_id, r.currency, r.base_run_id, ev.at, v.sign * ev.sign AS sign, c.is_debit, c.amount,
           CASE WHEN pg_visible_in_snapshot(c.created_xid, v.snapshot) THEN
                ledger.entry_state(CASE WHEN pg_visible_in_snapshot(c.changed_xid, v.snapshot) THEN c.status ELSE 'pending' END,
                                   c.posted_at, c.archived_at, ev.state_at)
           END AS state
      FROM base_runs r
      JOIN changed_entries c ON c.account_id = r.account_id AND c.currency = r.currency
     CROSS JOIN LATERAL (VALUES (1, p_snapshot), (-1, r.base_snapshot)) AS v(sign, snapshot)
     CROSS JOIN LATERAL (
            SELECT c.effective_at AS at, 1 AS sign, c.effective_at AS state_at
            UNION ALL
            SELECT c.moved_at, x.sign, x.state_at
              FROM (VALUES (1, c.moved_at), (-1, c.effective_at)) AS x(sign, state_at)
             WHERE c.moved_at > c.effective_at) ev
), snapshot_running AS (
    SELECT q.*,
           sum(q.pd) OVER w AS rpd, sum(q.pc) OVER w AS rpc, sum(q.qd) OVER w AS rqd, sum(q.qc) OVER w AS rqc,
           sum(q.n) OVER w AS rn
      FROM (SELECT x.account_id, x.currency, x.base_run_id, x.at, false AS is_base, NULL::timestamptz AS anchor_at,
                   x.sign * CASE WHEN x.state = 'posted' AND x.is_debit THEN x.amount ELSE 0 END AS pd,
                   x.sign * CASE WHEN x.state = 'posted' AND NOT x.is_debit THEN x.amount ELSE 0 END AS pc,
                   x.sign * CASE WHEN x.state = 'pending' AND x.is_debit THEN x.amount ELSE 0 END AS qd,
                   x.sign * CASE WHEN x.state = 'pending' AND NOT x.is_debit THEN x.amount ELSE 0 END AS qc,
                   x.sign * (x.state IS NOT NULL)::int AS n
              FROM snapshot_changes x
            UNION ALL
            SELECT s.account_id, s.currency, s.base_run_id, s.base_at, true, s.anchor_at, 0, 0, 0, 0, 0
              FROM stored_bases s) q
    WINDOW w AS (PARTITION BY q.account_id, q.currency, q.base_run_id ORDER BY q.at, q.is_base ROWS UNBOUNDED PRECEDING)
), changes AS (
    SELECT g.account_id, g.currency, g.anchor_at,
           g.sign * CASE WHEN g.state = 'posted' AND g.is_debit THEN g.amount ELSE 0 END AS pd,
           g.sign * CASE WHEN g.state = 'posted' AND NOT g.is_debit THEN g.amount ELSE 0 END AS pc,
           g.sign * CASE WHEN g.state = 'pending' AND g.is_debit THEN g.amount ELSE 0 END AS qd,
           g.sign * CASE WHEN g.state = 'pending' AND NOT g.is_debit THEN g.amount ELSE 0 END AS qc,
           g.sign * (g.state IS NOT NULL)::int AS n
      FROM (SELECT * FROM gap_entries UNION ALL SELECT * FROM move_changes) g
    UNION ALL
    SELECT r.account_id, r.currency, r.anchor_at, r.rpd, r.rpc, r.rqd, r.rqc, r.rn
      FROM snapshot_running r
     WHERE r.is_base
), totals AS (
    SELECT c.account_id, c.currency, c.anchor_at, sum(c.pd) AS pd, sum(c.pc) AS pc, sum(c.qd) AS qd, sum(c.qc) AS qc,
           sum(c.n) AS n
      FROM changes c
     GROUP BY c.account_id, c.currency, c.anchor_at
)
SELECT b.account_id, b.currency, b.anchor_at, b.base_at, b.base_run_id,
       (b.bpd + coalesce(t.pd, 0))::bigint, (b.bpc + coalesce(t.pc, 0))::bigint,
       (b.bqd + coalesce(t.qd, 0))::bigint, (b.bqc + coalesce(t.qc, 0))::bigint,
       (b.bn + coalesce(t.n, 0))::bigint
  FROM based b
  LEFT JOIN totals t ON t.account_id = b.account_id AND t.currency = b.currency AND t.anchor_at = b.anchor_at
$$;

REVOKE ALL ON FUNCTION ledger.expected_anchors(pg_snapshot, uuid[], text[], timestamptz[], bigint[], bigint[], bigint[],
                                               bigint[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.expected_anchors(pg_snapshot, uuid[], text[], timestamptz[], bigint[], bigint[], bigint[],
                                                  bigint[], bigint[]) TO subledger_writer, subledger_reader;
