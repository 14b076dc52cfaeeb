-- The ledger as it stood at the mirror's watermark (parameter snapshot), per effective day in UTC,
-- currency and status then: transactions, entries, debit and credit sums. UTC, not the reporting
-- time zone: Postgres dates with the host's zone rules, which may be older than the pinned ones
-- the warehouse uses (Debian's 2025b moves America/Havana's 2026-27 winter by an hour), and the
-- check compares what was copied, not how the warehouse dates it (tests/unit/accounting pair-tests that).
SELECT (e.effective_at AT TIME ZONE 'UTC')::date AS effective_day_utc, e.currency,
       CASE WHEN pg_visible_in_snapshot(t.changed_xid, %(snapshot)s::pg_snapshot) THEN t.status ELSE 'pending' END AS status,
       count(DISTINCT e.transaction_id) AS transactions, count(*) AS entries,
       -- as text: a day's sum of 64-bit amounts may pass the 64-bit range (compared as 128-bit ints)
       coalesce(sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0)::text AS debits,
       coalesce(sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0)::text AS credits
  FROM ledger.entries e
  JOIN ledger.transactions t ON t.transaction_id = e.transaction_id
 WHERE pg_visible_in_snapshot(t.created_xid, %(snapshot)s::pg_snapshot)
 GROUP BY 1, 2, 3
