-- Entries of the transactions created since the previous watermark ({created} is "true" on the
-- first run). Entries are inserted in the database transaction that creates their transaction
-- (invariant I5), so "transaction created after the watermark" is exactly "entry not mirrored yet".
SELECT e.transaction_id, e.entry_no, e.account_id, e.direction, e.amount, e.currency, e.effective_at
  FROM ledger.entries e
 WHERE {created}
