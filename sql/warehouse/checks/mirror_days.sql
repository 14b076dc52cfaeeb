-- The mirror per effective day in UTC, currency and status: the same figures as pg_mirror_days.sql.
SELECT CAST(e.effective_at AT TIME ZONE 'UTC' AS DATE) AS effective_day_utc, e.currency,
       coalesce(t.status, '(no transaction)') AS status,
       count(DISTINCT e.transaction_id) AS transactions, count(*) AS entries,
       CAST(CAST(coalesce(sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0) AS HUGEINT) AS VARCHAR) AS debits,
       CAST(CAST(coalesce(sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0) AS HUGEINT) AS VARCHAR) AS credits
  FROM analytics.entries e
  LEFT JOIN analytics.transactions t ON t.transaction_id = e.transaction_id
 GROUP BY ALL
