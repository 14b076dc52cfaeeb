-- Events of this batch that had been quarantined before and now have an outcome: link them (to
-- the batch and to the transaction that stands for the event), and record the replay in the
-- audit log (same transaction as the batch). The function checks each outcome against what the
-- batch recorded.
SELECT ingest.resolve_quarantine(%(batch_id)s::uuid, %(event_ids)s::text[], %(outcomes)s::text[], %(transaction_ids)s::uuid[])
