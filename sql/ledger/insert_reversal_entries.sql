-- Every leg of the target, flipped, dated at the reversal's effective_at.
INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at)
SELECT %(transaction_id)s::uuid, e.entry_no, e.account_id,
       CASE e.direction WHEN 'debit' THEN 'credit' ELSE 'debit' END, e.amount, e.currency, %(effective_at)s
  FROM ledger.entries e
 WHERE e.transaction_id = %(target_id)s::uuid
