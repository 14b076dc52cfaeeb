-- Every leg of the target, flipped, dated at the reversal's effective_at. The target's legs are
-- read in the partition of its month (its effective_at, from its transaction row).
INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at)
SELECT %(transaction_id)s::uuid, e.entry_no, e.account_id,
       CASE e.direction WHEN 'debit' THEN 'credit' ELSE 'debit' END, e.amount, e.currency, %(effective_at)s
  FROM ledger.entries e
 WHERE e.transaction_id = %(target_id)s::uuid
   AND e.effective_at = (SELECT t.effective_at FROM ledger.transactions t WHERE t.transaction_id = %(target_id)s::uuid)
