-- What became of an event that is not (or no longer) in the outbox: its latest outcome.
SELECT e.outcome, e.reason_code, e.transaction_id::text, e.at, e.batch_id::text,
       (SELECT q.message FROM ingest.quarantine q WHERE q.batch_id = e.batch_id AND q.event_id = e.event_id LIMIT 1)
  FROM ingest.events e
 WHERE e.event_id = %(event_id)s
 ORDER BY e.at DESC
 LIMIT 1
