-- Category rows next to the sum of their member accounts' rows, from the stored tables only.
-- A member's change on a day is its cumulative sums minus those of its previous row; a
-- category's expected cumulative sums on a day are the running total of its members' changes.
-- Compared on days $d1..$d2 (both tables are built from the same watermark through $d2, so every
-- member's balance is in the table).
WITH member_changes AS (
    SELECT account, currency, as_of_date,
           posted_debits - coalesce(lag(posted_debits) OVER w, 0) AS pd,
           posted_credits - coalesce(lag(posted_credits) OVER w, 0) AS pc,
           pending_debits - coalesce(lag(pending_debits) OVER w, 0) AS qd,
           pending_credits - coalesce(lag(pending_credits) OVER w, 0) AS qc,
           entry_count - coalesce(lag(entry_count) OVER w, 0) AS n
      FROM analytics.account_balance_snapshots
    WINDOW w AS (PARTITION BY account, currency ORDER BY as_of_date)
), category_changes AS (
    SELECT ac.category, m.currency, m.as_of_date,
           sum(m.pd) AS pd, sum(m.pc) AS pc, sum(m.qd) AS qd, sum(m.qc) AS qc, sum(m.n) AS n
      FROM member_changes m
      JOIN analytics.account_categories ac ON ac.account = m.account
     GROUP BY ALL
), expected_sums AS (
    SELECT category, currency, as_of_date,
           sum(pd) OVER w AS pd, sum(pc) OVER w AS pc, sum(qd) OVER w AS qd, sum(qc) OVER w AS qc, sum(n) OVER w AS n
      FROM category_changes
    WINDOW w AS (PARTITION BY category, currency ORDER BY as_of_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), expected AS (
    SELECT e.*, c.normal_balance,
           signed_posted(c.normal_balance, pd, pc, qd, qc) AS posted,
           signed_pending(c.normal_balance, pd, pc, qd, qc) AS pending,
           signed_available(c.normal_balance, pd, pc, qd, qc) AS available
      FROM expected_sums e
      JOIN analytics.categories c ON c.category = e.category
     WHERE e.as_of_date BETWEEN $d1 AND $d2
), stored AS (
    SELECT * FROM analytics.category_balance_snapshots WHERE as_of_date BETWEEN $d1 AND $d2
)
SELECT coalesce(s.category, x.category) AS category, coalesce(s.currency, x.currency) AS currency,
       coalesce(s.as_of_date, x.as_of_date) AS as_of_date,
       s.posted AS stored_posted, CAST(x.posted AS BIGINT) AS members_posted,
       s.pending AS stored_pending, CAST(x.pending AS BIGINT) AS members_pending,
       s.available AS stored_available, CAST(x.available AS BIGINT) AS members_available,
       s.posted - x.posted AS diff_posted,
       s.pending - x.pending AS diff_pending,
       s.available - x.available AS diff_available,
       s.posted_debits - x.pd AS diff_posted_debits,
       s.posted_credits - x.pc AS diff_posted_credits,
       s.pending_debits - x.qd AS diff_pending_debits,
       s.pending_credits - x.qc AS diff_pending_credits,
       s.entry_count - x.n AS diff_entry_count
  FROM stored s
  FULL JOIN expected x ON x.category = s.category AND x.currency = s.currency AND x.as_of_date = s.as_of_date
