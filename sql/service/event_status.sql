-- The newest outbox row of an event and what became of it (GET /v1/events/{event_id}).
SELECT o.outbox_id, o.inserted_at, o.processed_at, o.tries, o.last_error, o.available_at, o.batch_id::text,
       ev.outcome, ev.reason_code, ev.transaction_id::text,
       (SELECT q.message FROM ingest.quarantine q WHERE q.batch_id = o.batch_id AND q.event_id = o.event_id LIMIT 1)
  FROM ingest.outbox o
  LEFT JOIN LATERAL (SELECT e.outcome, e.reason_code, e.transaction_id FROM ingest.events e
                      WHERE e.batch_id = o.batch_id AND e.event_id = o.event_id LIMIT 1) ev ON true
 WHERE o.event_id = %(event_id)s
 ORDER BY o.outbox_id DESC
 LIMIT 1
