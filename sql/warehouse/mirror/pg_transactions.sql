-- Transactions created or moved since the previous watermark ({window} is "true" on the first
-- run). A lifecycle move rewrites the row (changed_xid), so the new state is mirrored; the batch
-- that moved it is read from the audit log (only for moved rows).
SELECT t.transaction_id, t.idempotency_key, t.status, t.effective_at, t.created_at, t.posted_at,
       t.archived_at, t.status_changed_at, t.reverses_transaction_id, t.reference, t.source_event_id,
       t.source_event_type AS event_type, t.batch_id, t.description, t.metadata, t.source,
       t.created_xid::text::bigint AS created_xid, t.changed_xid::text::bigint AS changed_xid,
       moved.batch_id AS changed_batch_id
  FROM ledger.transactions t
  LEFT JOIN LATERAL (
        SELECT a.batch_id
          FROM ledger.audit_log a
         WHERE t.status_changed_at IS NOT NULL
           AND a.target_type = 'transaction' AND a.target_id = t.transaction_id::text
           AND a.action IN ('transaction.posted', 'transaction.archived')
         ORDER BY a.at DESC
         LIMIT 1) moved ON true
 WHERE {window}
