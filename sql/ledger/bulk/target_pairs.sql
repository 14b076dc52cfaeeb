-- The legs of existing target transactions: what a move or reversal will lock and touch.
-- One primary-key probe per target in the partition of its month (LATERAL ... OFFSET 0, pruned at
-- run time by the target's effective_at): with thousands of ids, `= ANY` made the planner scan the
-- whole entries table (0.2 s per batch at 2M entries, growing).
SELECT e.transaction_id::text, e.account_id::text, e.currency, e.direction, e.amount
  FROM unnest(%(ids)s::uuid[]) AS target(transaction_id)
  JOIN ledger.transactions t ON t.transaction_id = target.transaction_id
 CROSS JOIN LATERAL (SELECT e.transaction_id, e.account_id, e.currency, e.direction, e.amount
                       FROM ledger.entries e
                      WHERE e.transaction_id = t.transaction_id AND e.effective_at = t.effective_at OFFSET 0) e
