-- Later runs: new and moved transactions replace their earlier version (a move rewrites the row),
-- with what the mirror computes once for them in the reporting time zone $tz (macro transaction_fields).
CREATE OR REPLACE TEMP TABLE staged_transactions AS
SELECT transaction_id::VARCHAR AS transaction_id, idempotency_key, status, effective_at, created_at, posted_at,
       archived_at, status_changed_at, reverses_transaction_id::VARCHAR AS reverses_transaction_id, reference,
       source_event_id, event_type, batch_id::VARCHAR AS batch_id, description, metadata::JSON AS metadata,
       source::JSON AS source, created_xid::UBIGINT AS created_xid, changed_xid::UBIGINT AS changed_xid,
       changed_batch_id::VARCHAR AS changed_batch_id,
       unnest(transaction_fields(status, effective_at, posted_at, archived_at, reference, event_type, metadata::JSON,
                                 source::JSON, $tz))
  FROM incoming_transactions;
DELETE FROM analytics.transactions WHERE transaction_id IN (SELECT transaction_id FROM staged_transactions);
INSERT INTO analytics.transactions BY NAME SELECT * FROM staged_transactions;
