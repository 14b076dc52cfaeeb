-- Stored snapshot rows ({table}) next to a fresh recomputation ({new_rows}) on days $d1..$d2:
-- one row per key/currency/day in either, with the difference of every balance column (NULL where
-- a row exists on one side only).
WITH stored AS (
    SELECT * FROM {table} WHERE as_of_date BETWEEN $d1 AND $d2
), expected AS (
    SELECT * FROM {new_rows} WHERE as_of_date BETWEEN $d1 AND $d2
)
SELECT coalesce(s.{key}, x.{key}) AS key, coalesce(s.currency, x.currency) AS currency,
       coalesce(s.as_of_date, x.as_of_date) AS as_of_date,
       s.posted AS stored_posted, x.posted AS expected_posted,
       s.pending AS stored_pending, x.pending AS expected_pending,
       s.available AS stored_available, x.available AS expected_available,
       s.posted - x.posted AS diff_posted,
       s.pending - x.pending AS diff_pending,
       s.available - x.available AS diff_available,
       s.posted_debits - x.posted_debits AS diff_posted_debits,
       s.posted_credits - x.posted_credits AS diff_posted_credits,
       s.pending_debits - x.pending_debits AS diff_pending_debits,
       s.pending_credits - x.pending_credits AS diff_pending_credits,
       s.day_posted_debits - x.day_posted_debits
         + s.day_posted_credits - x.day_posted_credits
         + s.day_pending_debits - x.day_pending_debits
         + s.day_pending_credits - x.day_pending_credits AS diff_day_sums,
       s.day_entry_count - x.day_entry_count AS diff_day_entry_count,
       s.entry_count - x.entry_count AS diff_entry_count
  FROM stored s
  FULL JOIN expected x ON x.{key} = s.{key} AND x.currency = s.currency AND x.as_of_date = s.as_of_date
