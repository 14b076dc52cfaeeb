-- Replace the anchors of [%(range_start)s, %(range_end)s] with anchor_stage (this run's), in one
-- transaction; runs no anchor refers to any more are dropped.
INSERT INTO ledger.balance_anchor_runs (run_id, snapshot, snapshot_xmin, taken_at, first_day, last_day, covered_until, timezone)
VALUES (%(run_id)s, %(snapshot)s::pg_snapshot, pg_snapshot_xmin(%(snapshot)s::pg_snapshot), %(taken_at)s,
        %(first_day)s, %(last_day)s, %(covered_until)s, %(timezone)s);
DELETE FROM ledger.balance_anchors WHERE anchor_at BETWEEN %(range_start)s AND %(range_end)s;
INSERT INTO ledger.balance_anchors (account_id, currency, anchor_at, run_id, posted_debits, posted_credits,
                                    pending_debits, pending_credits, entry_count)
SELECT account_id, currency, anchor_at, %(run_id)s, posted_debits, posted_credits, pending_debits,
       pending_credits, entry_count
  FROM anchor_stage;
DELETE FROM ledger.balance_anchor_runs r
 WHERE r.run_id <> %(run_id)s
   AND NOT EXISTS (SELECT 1 FROM ledger.balance_anchors a WHERE a.run_id = r.run_id);
