-- Business references the batch's creating events name that a stored transaction of another event
-- already holds (a reference names one thing for the life of the ledger). One probe of
-- transactions_by_reference per reference (LATERAL ... LIMIT 1), as in existing_keys.sql.
SELECT r.seq, r.reference, t.transaction_id::text, t.idempotency_key
  FROM bulk_references r
 CROSS JOIN LATERAL (SELECT t.transaction_id, t.idempotency_key FROM ledger.transactions t
                      WHERE t.reference = r.reference AND t.idempotency_key <> r.key
                      ORDER BY t.created_at, t.transaction_id LIMIT 1) t
