-- Events of this batch that had been quarantined before and now have an outcome: link them (to
-- the batch and to the transaction that stands for the event), and record the replay in the
-- audit log (same transaction as the batch).
WITH outcome AS (
    SELECT event_id, outcome, transaction_id
      FROM unnest(%(event_ids)s::text[], %(outcomes)s::text[], %(transaction_ids)s::uuid[]) AS u(event_id, outcome, transaction_id)
), resolved AS (
    UPDATE ingest.quarantine q
       SET resolved_by_batch = %(batch_id)s, resolved_at = clock_timestamp(),
           resolution = CASE o.outcome WHEN 'quarantined' THEN 'requarantined' ELSE o.outcome END,
           resolved_transaction_id = o.transaction_id
      FROM outcome o
     WHERE q.event_id = o.event_id AND q.resolved_at IS NULL AND q.batch_id <> %(batch_id)s
    RETURNING q.quarantine_id, q.event_id, q.reason_code, q.resolution, q.resolved_transaction_id
)
INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
SELECT 'event.replayed', 'quarantine', quarantine_id::text,
       jsonb_build_object('event_id', event_id, 'reason_code', reason_code),
       jsonb_build_object('batch_id', %(batch_id)s, 'resolution', resolution, 'transaction_id', resolved_transaction_id)
  FROM resolved
