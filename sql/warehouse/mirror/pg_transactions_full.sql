-- First run: every transaction. Same columns as pg_transactions.sql, but the batch of each move is
-- found by one hash join over the move audit rows instead of a lookup per transaction ({window} is "true").
SELECT t.transaction_id, t.idempotency_key, t.status, t.effective_at, t.created_at, t.posted_at,
       t.archived_at, t.status_changed_at, t.reverses_transaction_id, t.reference, t.source_event_id,
       t.source_event_type AS event_type, t.batch_id, t.description, t.metadata, t.source,
       t.created_xid::text::bigint AS created_xid, t.changed_xid::text::bigint AS changed_xid,
       moved.batch_id AS changed_batch_id
  FROM ledger.transactions t
  LEFT JOIN (
        SELECT DISTINCT ON (a.target_id) a.target_id, a.batch_id
          FROM ledger.audit_log a
         WHERE a.target_type = 'transaction' AND a.action IN ('transaction.posted', 'transaction.archived')
         ORDER BY a.target_id, a.at DESC) moved
    ON t.status_changed_at IS NOT NULL AND moved.target_id = t.transaction_id::text
 WHERE {window}
