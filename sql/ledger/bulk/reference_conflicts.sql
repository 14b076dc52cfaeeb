-- Business references the batch's creating postings name (bulk_keys.reference) that a stored
-- transaction of another event already holds: a reference names one thing for the life of the
-- ledger. One probe of transactions_by_reference per reference (LATERAL ... LIMIT 1), as in
-- existing_keys.sql; the caller keeps the rows of events still alive.
SELECT k.seq, k.reference, t.transaction_id::text, t.idempotency_key
  FROM bulk_keys k
 CROSS JOIN LATERAL (SELECT t.transaction_id, t.idempotency_key FROM ledger.transactions t
                      WHERE t.reference = k.reference AND t.idempotency_key <> k.key
                      ORDER BY t.created_at, t.transaction_id LIMIT 1) t
 WHERE k.reference IS NOT NULL
