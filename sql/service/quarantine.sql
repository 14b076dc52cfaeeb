-- Quarantined events, newest first (GET /v1/quarantine): open ones unless %(include_resolved)s,
-- optionally one reason code and/or one event id; keyset pagination before (%(before_at)s, %(before_id)s).
SELECT q.quarantine_id::text, q.quarantined_at, q.event_id, q.event_type, q.reason_code, q.message, q.raw,
       q.source_name, q.line_no, q.batch_id::text, q.resolved_at, q.resolution, q.resolved_transaction_id::text,
       q.file_path
  FROM ingest.quarantine q
 WHERE (%(include_resolved)s OR q.resolved_at IS NULL)
   AND (%(reason)s::text IS NULL OR q.reason_code = %(reason)s)
   AND (%(event_id)s::text IS NULL OR q.event_id = %(event_id)s)
   AND (q.quarantined_at, q.quarantine_id) < (%(before_at)s, %(before_id)s::uuid)
 ORDER BY q.quarantined_at DESC, q.quarantine_id DESC
 LIMIT %(limit)s
