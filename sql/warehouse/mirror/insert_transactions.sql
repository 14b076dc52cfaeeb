-- First run: every transaction, straight from the Arrow stream.
INSERT INTO analytics.transactions
SELECT transaction_id::VARCHAR, idempotency_key, status, effective_at, created_at, posted_at, archived_at,
       status_changed_at, reverses_transaction_id::VARCHAR, reference, source_event_id, event_type,
       batch_id::VARCHAR, description, metadata::JSON, source::JSON, created_xid::UBIGINT,
       changed_xid::UBIGINT, changed_batch_id::VARCHAR
  FROM incoming_transactions;
