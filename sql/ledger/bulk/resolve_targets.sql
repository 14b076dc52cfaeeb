-- Targets named by idempotency key, and the *current* transaction of each named reference:
-- not a reversal, not reversed, the latest created. Names are unique per kind.
-- One index probe per name (LATERAL ... LIMIT 1): the staging table has no statistics, and a
-- join let the planner sort every transaction of the ledger by reference (0.5 s per batch at
-- 1M transactions, growing with the ledger; measured by bench/ingest_bench.py).
SELECT 'key' AS kind, n.name, t.transaction_id::text, t.status, t.effective_at,
       EXISTS (SELECT 1 FROM ledger.transactions r WHERE r.reverses_transaction_id = t.transaction_id) AS reversed
  FROM bulk_target_names n
 CROSS JOIN LATERAL (SELECT t.transaction_id, t.status, t.effective_at FROM ledger.transactions t
                      WHERE t.idempotency_key = n.name LIMIT 1) t
 WHERE n.kind = 'key'
UNION ALL
SELECT 'reference', n.name, t.transaction_id::text, t.status, t.effective_at, false
  FROM bulk_target_names n
 CROSS JOIN LATERAL (SELECT t.transaction_id, t.status, t.effective_at FROM ledger.transactions t
                      WHERE t.reference = n.name
                        AND t.reverses_transaction_id IS NULL
                        AND NOT EXISTS (SELECT 1 FROM ledger.transactions r WHERE r.reverses_transaction_id = t.transaction_id)
                      ORDER BY t.created_at DESC, t.transaction_id DESC
                      LIMIT 1) t
 WHERE n.kind = 'reference'
