-- The flipped entries of every reversal, read per target through the entries primary key in the
-- partition of the target's month (LATERAL ... OFFSET 0 keeps the probe per target, pruned at run
-- time by the target's effective_at): a plain join let the planner merge the batch with a scan of
-- the whole entries key, whose cost grows with the ledger (0.5 s per batch at 2M entries, measured
-- by bench/ingest_bench.py).
INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at)
SELECT r.transaction_id, e.entry_no, e.account_id,
       CASE e.direction WHEN 'debit' THEN 'credit' ELSE 'debit' END, e.amount, e.currency, r.effective_at
  FROM bulk_reversals r
  JOIN ledger.transactions t ON t.transaction_id = r.target_id
 CROSS JOIN LATERAL (SELECT e.entry_no, e.account_id, e.direction, e.amount, e.currency
                       FROM ledger.entries e
                      WHERE e.transaction_id = t.transaction_id AND e.effective_at = t.effective_at OFFSET 0) e
