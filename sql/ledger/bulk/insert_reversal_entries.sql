INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at)
SELECT r.transaction_id, e.entry_no, e.account_id,
       CASE e.direction WHEN 'debit' THEN 'credit' ELSE 'debit' END, e.amount, e.currency, r.effective_at
  FROM bulk_reversals r
  JOIN ledger.entries e ON e.transaction_id = r.target_id
