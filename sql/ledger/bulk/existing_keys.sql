-- Batch keys already used by the ledger, as idempotency keys or as lifecycle-move keys.
SELECT k.seq, k.key, t.content_hash AS stored_hash, t.transaction_id::text
  FROM bulk_keys k JOIN ledger.transactions t ON t.idempotency_key = k.key
UNION ALL
SELECT k.seq, k.key, t.transition_hash, t.transaction_id::text
  FROM bulk_keys k JOIN ledger.transactions t ON t.transition_key = k.key
