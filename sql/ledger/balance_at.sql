-- Balances as of effective time %(as_of)s, as known at system time %(known_at)s, answered from
-- the latest balance anchor at or before %(as_of)s plus the entries whose contribution differs
-- between the anchor and now (docs/warehouse.md, "Anchors and watermarks"). Same rows and values
-- as sql/ledger/balances_as_of.sql (the full recomputation) -- proved by tests/warehouse.
--
-- Per account/currency pair with anchor A (instant), run snapshot W, answer T, known-at S:
--   result = anchor sums + sum over candidate entries of (contribution at T as known at S
--                                                          - contribution the anchor counted)
-- and the contribution of every other entry is equal on both sides. Candidates, each found
-- through an index:
--   S1  entries effective in (A, T]                          entries_by_account
--   S2  entries (effective <= A) of transactions created or  transactions_by_changed_xid from
--       moved after W (the anchor did not see them / their   xmin(W), then the entries' key
--       move)
--   S3  entries (effective <= A) of transactions W saw move  transactions_moves_by_time, then
--       with the move dated after A -- only needed from the  the entries' key
--       start of T's day, past the run's last day, or from
--       the day of the first anchor after A that --known-at
--       excluded (every other such move left a later,
--       eligible anchor), and only if the anchor counted
--       something pending
-- An anchor serves --known-at S only if its snapshot was taken by S (then everything it saw was
-- created and moved by S). Pairs without an eligible anchor use their whole history (S1 from
-- -infinity).
WITH pairs AS (
    SELECT b.account_id, b.currency
      FROM ledger.balances b
     WHERE (%(account_ids)s::uuid[] IS NULL OR b.account_id = ANY (%(account_ids)s::uuid[]))
       AND (%(currency)s::text IS NULL OR b.currency = %(currency)s::text)
), anchored AS MATERIALIZED (
    SELECT p.account_id, p.currency, a.anchor_at, a.snapshot, a.snapshot_xmin,
           coalesce(a.posted_debits, 0) AS posted_debits, coalesce(a.posted_credits, 0) AS posted_credits,
           coalesce(a.pending_debits, 0) AS pending_debits, coalesce(a.pending_credits, 0) AS pending_credits,
           coalesce(a.entry_count, 0) AS entry_count,
           CASE WHEN a.pending_debits + a.pending_credits > 0
                THEN greatest(a.anchor_at + interval '1 microsecond',
                              least(date_trunc('day', %(as_of)s::timestamptz, a.timezone),
                                    a.covered_until + interval '1 microsecond',
                                    date_trunc('day', b.anchor_at, a.timezone)))
           END AS move_low
      FROM pairs p
      LEFT JOIN LATERAL (
            SELECT x.anchor_at, x.posted_debits, x.posted_credits, x.pending_debits, x.pending_credits,
                   x.entry_count, r.snapshot, r.snapshot_xmin, r.timezone, r.covered_until
              FROM ledger.balance_anchors x
              JOIN ledger.balance_anchor_runs r ON r.run_id = x.run_id
             WHERE x.account_id = p.account_id AND x.currency = p.currency
               AND x.anchor_at <= %(as_of)s::timestamptz
               AND r.taken_at <= %(known_at)s::timestamptz
             ORDER BY x.anchor_at DESC
             LIMIT 1) a ON true
      -- The first anchor in (A, T] that --known-at excluded (its run is newer than S). A later
      -- run that recomputed some days replaced the chosen run's anchors there -- including the
      -- end-of-day anchors its moves left -- so from that day on every move has to be looked at.
      -- Without --known-at every anchor is eligible and this range is empty.
      LEFT JOIN LATERAL (
            SELECT min(y.anchor_at) AS anchor_at
              FROM ledger.balance_anchors y
              JOIN ledger.balance_anchor_runs r ON r.run_id = y.run_id
             WHERE y.account_id = p.account_id AND y.currency = p.currency
               AND y.anchor_at > coalesce(a.anchor_at, '-infinity'::timestamptz)
               AND y.anchor_at <= %(as_of)s::timestamptz
               AND r.taken_at > %(known_at)s::timestamptz) b ON true
), changed AS MATERIALIZED (
    SELECT t.transaction_id, t.effective_at, t.changed_xid
      FROM ledger.transactions t
     WHERE t.changed_xid >= (SELECT min(snapshot_xmin) FROM anchored)
), moved AS MATERIALIZED (
    SELECT t.transaction_id, t.effective_at, coalesce(t.posted_at, t.archived_at) AS moved_at
      FROM ledger.transactions t
     WHERE t.status_changed_at IS NOT NULL
       AND coalesce(t.posted_at, t.archived_at) >= (SELECT min(move_low) FROM anchored)
       AND coalesce(t.posted_at, t.archived_at) <= %(as_of)s::timestamptz
), candidates AS (
    SELECT e.transaction_id, e.entry_no, e.effective_at, e.account_id, e.currency, e.direction, e.amount
      FROM anchored an
      JOIN ledger.entries e
        ON e.account_id = an.account_id AND e.currency = an.currency
       AND e.effective_at > coalesce(an.anchor_at, '-infinity'::timestamptz)
       AND e.effective_at <= %(as_of)s::timestamptz
    UNION
    -- S2 and S3 look up the entries of each changed/moved transaction by its key, in the partition
    -- of its month (OFFSET 0 keeps the planner from turning this into a scan of the account's
    -- whole history instead, and the probe per transaction pruned at run time).
    SELECT e.transaction_id, e.entry_no, e.effective_at, e.account_id, e.currency, e.direction, e.amount
      FROM changed c
     CROSS JOIN LATERAL (SELECT x.* FROM ledger.entries x
                          WHERE x.transaction_id = c.transaction_id AND x.effective_at = c.effective_at OFFSET 0) e
      JOIN anchored an ON an.account_id = e.account_id AND an.currency = e.currency
     WHERE e.effective_at <= an.anchor_at
       AND NOT pg_visible_in_snapshot(c.changed_xid, an.snapshot)
    UNION
    SELECT e.transaction_id, e.entry_no, e.effective_at, e.account_id, e.currency, e.direction, e.amount
      FROM moved m
     CROSS JOIN LATERAL (SELECT x.* FROM ledger.entries x
                          WHERE x.transaction_id = m.transaction_id AND x.effective_at = m.effective_at OFFSET 0) e
      JOIN anchored an ON an.account_id = e.account_id AND an.currency = e.currency
     WHERE m.moved_at >= an.move_low AND e.effective_at <= an.anchor_at
), states AS (
    -- (the candidates carry their columns: the UNION keeps one row per entry, and the entries are
    -- not read again, which would reach every month)
    SELECT e.account_id, e.currency, e.direction, e.amount, s.*
      FROM candidates e
      JOIN ledger.transactions t ON t.transaction_id = e.transaction_id
      JOIN anchored an ON an.account_id = e.account_id AND an.currency = e.currency
     CROSS JOIN LATERAL (
        SELECT (e.effective_at <= %(as_of)s::timestamptz AND t.created_at <= %(known_at)s::timestamptz) AS now_counted,
               (an.anchor_at IS NOT NULL AND e.effective_at <= an.anchor_at
                AND pg_visible_in_snapshot(t.created_xid, an.snapshot)) AS anchor_counted,
               (an.anchor_at IS NOT NULL AND pg_visible_in_snapshot(t.changed_xid, an.snapshot)) AS anchor_saw_state
     ) v
     CROSS JOIN LATERAL (
        -- the entry's state as of T as known at S, and as the anchor saw it (ledger.entry_state)
        SELECT ledger.entry_state(CASE WHEN coalesce(t.status_changed_at <= %(known_at)s::timestamptz, true) THEN t.status
                                       ELSE 'pending' END, t.posted_at, t.archived_at, %(as_of)s::timestamptz) AS now_state,
               ledger.entry_state(CASE WHEN v.anchor_saw_state THEN t.status ELSE 'pending' END, t.posted_at, t.archived_at,
                                  an.anchor_at) AS anchor_state
     ) w
     CROSS JOIN LATERAL (
        SELECT v.now_counted, v.anchor_counted,
               (v.now_counted AND w.now_state = 'posted') AS now_posted,
               (v.now_counted AND w.now_state = 'archived') AS now_gone,
               (v.anchor_counted AND w.anchor_state = 'posted') AS anchor_posted,
               (v.anchor_counted AND w.anchor_state = 'archived') AS anchor_gone
     ) s
), deltas AS (
    SELECT account_id, currency,
           sum(CASE WHEN direction = 'debit' THEN amount * (now_posted::int - anchor_posted::int) ELSE 0 END) AS posted_debits,
           sum(CASE WHEN direction = 'credit' THEN amount * (now_posted::int - anchor_posted::int) ELSE 0 END) AS posted_credits,
           sum(CASE WHEN direction = 'debit'
                    THEN amount * ((now_counted AND NOT now_posted AND NOT now_gone)::int
                                   - (anchor_counted AND NOT anchor_posted AND NOT anchor_gone)::int)
                    ELSE 0 END) AS pending_debits,
           sum(CASE WHEN direction = 'credit'
                    THEN amount * ((now_counted AND NOT now_posted AND NOT now_gone)::int
                                   - (anchor_counted AND NOT anchor_posted AND NOT anchor_gone)::int)
                    ELSE 0 END) AS pending_credits,
           sum(now_counted::int - anchor_counted::int) AS entry_count
      FROM states
     GROUP BY account_id, currency
)
SELECT a.code, a.normal_balance, an.currency,
       (an.posted_debits + coalesce(d.posted_debits, 0))::bigint AS posted_debits,
       (an.posted_credits + coalesce(d.posted_credits, 0))::bigint AS posted_credits,
       (an.pending_debits + coalesce(d.pending_debits, 0))::bigint AS pending_debits,
       (an.pending_credits + coalesce(d.pending_credits, 0))::bigint AS pending_credits
  FROM anchored an
  JOIN ledger.accounts a ON a.account_id = an.account_id
  LEFT JOIN deltas d ON d.account_id = an.account_id AND d.currency = an.currency
 WHERE an.entry_count + coalesce(d.entry_count, 0) > 0
 ORDER BY a.code, an.currency
