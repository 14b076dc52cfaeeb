-- Which balances become Postgres anchors (docs/warehouse.md, "Anchors and watermarks"), from
-- new_account_rows (days $d1..$d2) and, for hot days, the mirror's entries:
--   * the end of a day on which the account's entry count crossed a multiple of $k,
--   * the end of every day on which one of its pending transactions moved (posted/archived) --
--     balance_at relies on this to look for later moves only on the day of T or beyond the run,
--   * the end of its last day in the range,
--   * inside a day with more than $k entries (after $start), the instant after every $k-th entry,
-- so that balance_at never reads more than about $k entries past an anchor.
CREATE OR REPLACE TEMP TABLE new_anchors AS
WITH ends_of_days AS (
    SELECT account_id, currency, day_end(as_of_date, $tz) AS anchor_at,
           posted_debits AS pd, posted_credits AS pc, pending_debits AS qd, pending_credits AS qc, entry_count AS n
      FROM (
        SELECT *, row_number() OVER (PARTITION BY account_id, currency ORDER BY as_of_date DESC) AS from_last
          FROM new_account_rows
      )
     WHERE entry_count // $k > (entry_count - day_entry_count) // $k
        OR day_move_count > 0
        OR from_last = 1
), hot AS (
    SELECT account_id, currency, as_of_date,
           day_start(as_of_date, $tz) AS day_start,
           day_end(as_of_date, $tz) AS day_end,
           posted_debits - day_posted_debits AS bpd, posted_credits - day_posted_credits AS bpc,
           pending_debits - day_pending_debits AS bqd, pending_credits - day_pending_credits AS bqc,
           entry_count - day_entry_count AS bn
      FROM new_account_rows
     WHERE day_entry_count > $k AND as_of_date > $start
), hot_effective AS (
    -- entries becoming effective during a hot day, in their state at that instant
    SELECT h.account_id, h.currency, h.as_of_date, e.effective_at AS instant_at,
           e.direction = 'debit' AS is_debit, e.amount,
           entry_state(t.status, t.posted_at, t.archived_at, e.effective_at) AS state_then
      FROM hot h
      JOIN analytics.entries e
        ON e.account_id = h.account_id AND e.currency = h.currency AND e.effective_date = h.as_of_date
      JOIN analytics.transactions t ON t.transaction_id = e.transaction_id
), hot_moves AS (
    -- pending entries (effective earlier) whose transaction moved during a hot day
    SELECT h.account_id, h.currency, h.as_of_date, m.moved_at AS instant_at, m.is_debit, m.amount, m.status
      FROM (
        SELECT e.account_id, e.currency, e.direction = 'debit' AS is_debit, e.amount, t.status,
               coalesce(t.posted_at, t.archived_at) AS moved_at,
               coalesce(t.posted_date, t.archived_date) AS move_date
          FROM analytics.transactions t
          JOIN analytics.entries e ON e.transaction_id = t.transaction_id
         WHERE t.status_changed_at IS NOT NULL AND coalesce(t.posted_at, t.archived_at) > e.effective_at
      ) m
      JOIN hot h ON h.account_id = m.account_id AND h.currency = m.currency AND h.as_of_date = m.move_date
), instant_events AS (
    SELECT account_id, currency, as_of_date, instant_at,
           CASE WHEN state_then = 'posted' AND is_debit THEN amount ELSE 0 END AS pd,
           CASE WHEN state_then = 'posted' AND NOT is_debit THEN amount ELSE 0 END AS pc,
           CASE WHEN state_then = 'pending' AND is_debit THEN amount ELSE 0 END AS qd,
           CASE WHEN state_then = 'pending' AND NOT is_debit THEN amount ELSE 0 END AS qc,
           1 AS n
      FROM hot_effective
    UNION ALL
    SELECT account_id, currency, as_of_date, instant_at,
           CASE WHEN status = 'posted' AND is_debit THEN amount ELSE 0 END,
           CASE WHEN status = 'posted' AND NOT is_debit THEN amount ELSE 0 END,
           CASE WHEN is_debit THEN -amount ELSE 0 END,
           CASE WHEN NOT is_debit THEN -amount ELSE 0 END,
           0
      FROM hot_moves
), instants AS (
    SELECT account_id, currency, as_of_date, instant_at, sum(pd) AS pd, sum(pc) AS pc, sum(qd) AS qd, sum(qc) AS qc, sum(n) AS n
      FROM instant_events
     GROUP BY ALL
), running AS (
    SELECT i.account_id, i.currency, i.instant_at, i.n AS n_here,
           h.bpd + sum(i.pd) OVER w AS pd, h.bpc + sum(i.pc) OVER w AS pc,
           h.bqd + sum(i.qd) OVER w AS qd, h.bqc + sum(i.qc) OVER w AS qc,
           sum(i.n) OVER w AS day_n, h.bn, h.day_end
      FROM instants i
      JOIN hot h ON h.account_id = i.account_id AND h.currency = i.currency AND h.as_of_date = i.as_of_date
    WINDOW w AS (PARTITION BY i.account_id, i.currency, i.as_of_date ORDER BY i.instant_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), intra_day AS (
    SELECT account_id, currency, instant_at AS anchor_at, pd, pc, qd, qc, bn + day_n AS n
      FROM running
     WHERE day_n // $k > (day_n - n_here) // $k AND instant_at < day_end
)
SELECT account_id, currency, anchor_at,
       CAST(pd AS BIGINT) AS posted_debits, CAST(pc AS BIGINT) AS posted_credits,
       CAST(qd AS BIGINT) AS pending_debits, CAST(qc AS BIGINT) AS pending_credits, CAST(n AS BIGINT) AS entry_count
  FROM (SELECT * FROM ends_of_days UNION ALL SELECT * FROM intra_day);
