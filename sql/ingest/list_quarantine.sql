-- Quarantined events, newest first; open ones only unless %(all)s. An entry without raw bytes (a whole
-- file, a line too long to keep) points at its file: file_path, file_sha256, file_bytes.
SELECT q.quarantine_id::text, q.quarantined_at, q.source_name, q.line_no, q.event_id, q.event_type, q.reason_code,
       q.message, length(q.raw) AS raw_bytes, q.resolution, q.resolved_at, q.batch_id::text,
       q.file_path, q.file_sha256, q.file_bytes, q.resolved_transaction_id::text
  FROM ingest.quarantine q
 WHERE %(all)s OR q.resolved_at IS NULL
 ORDER BY q.quarantined_at DESC, q.batch_id, q.seq NULLS FIRST
 LIMIT %(limit)s
