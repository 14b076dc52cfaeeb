-- The newest outbox row now: a drain posts up to it and ends.
SELECT coalesce(max(outbox_id), 0) FROM ingest.outbox
