-- Migration 0007, last step (after ledger.ensure_entry_partitions exists): a partition for every
-- month the old entries hold, the entries copied in the order of the account index (the partitions'
-- indexes fill as appends), and the old table dropped. The new table has no trigger yet (the
-- function files add them right after the migrations), so the copy changes no cached balance.
SELECT ledger.ensure_entry_partitions(month, month)
  FROM (SELECT DISTINCT date_trunc('month', effective_at, 'UTC') AS month FROM ledger.entries_before_0007) months;
INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at)
SELECT transaction_id, entry_no, account_id, direction, amount, currency, effective_at
  FROM ledger.entries_before_0007
 ORDER BY account_id, currency, effective_at;
DROP TABLE ledger.entries_before_0007;
