-- Mark the claimed rows done by the batch that posted them, in that batch's transaction.
SELECT ingest.finish_outbox(%(outbox_ids)s::bigint[], %(batch_id)s::uuid)
