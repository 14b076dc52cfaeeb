-- The raw bytes of open quarantine entries, in arrival order (to write a file to fix and replay).
-- Entries without raw bytes (a whole file, a line too long to keep) point at their file instead.
SELECT q.event_id, q.raw FROM ingest.quarantine q
 WHERE q.resolved_at IS NULL AND q.seq IS NOT NULL AND length(q.raw) > 0
   AND (%(reason)s::text IS NULL OR q.reason_code = %(reason)s::text)
 ORDER BY q.quarantined_at, q.batch_id, q.seq
