-- The (account_id, currency) pairs a transaction's entries touch (read in the partition of its month).
SELECT DISTINCT e.account_id::text, e.currency
  FROM ledger.transactions t
  JOIN ledger.entries e ON e.transaction_id = t.transaction_id AND e.effective_at = t.effective_at
 WHERE t.transaction_id = %(transaction_id)s::uuid
