-- Claim up to %(max_rows)s waiting outbox rows in lanes no other worker holds (sql/schema/functions/ingest.claim_outbox.sql,
-- ingest.claim_outbox); only rows up to %(up_to)s when given. Autocommit: the tries count even if
-- the worker is killed before it posts them.
SELECT outbox_id, lane, tries, solo_tries, claim_size, last_error, envelope, event_id, event_type, effective_at,
       recorded_at, subscription_id, customer_id, amount, currency, payload, metadata, inserted_at
  FROM ingest.claim_outbox(%(max_rows)s, %(up_to)s)
