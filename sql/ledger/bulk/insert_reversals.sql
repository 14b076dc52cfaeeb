INSERT INTO ledger.transactions
       (transaction_id, idempotency_key, status, effective_at, posted_at, reverses_transaction_id,
        source_event_id, source_event_type, batch_id, content_hash, description, metadata)
SELECT transaction_id, idempotency_key, 'posted', effective_at, effective_at, target_id,
       source_event_id, source_event_type, batch_id, content_hash, description, metadata
  FROM bulk_reversals
