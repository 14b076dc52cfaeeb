-- Event ids with an open quarantine entry from an earlier batch: the only ones a batch can resolve.
-- (Batches run one at a time under the bulk advisory lock, so this set cannot change under us.)
SELECT DISTINCT event_id FROM ingest.quarantine
 WHERE resolved_at IS NULL AND batch_id <> %(batch_id)s AND event_id IS NOT NULL
