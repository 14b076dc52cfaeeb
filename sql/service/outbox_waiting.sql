-- How many outbox rows wait to be posted, the oldest one's id and age (seconds), and how many
-- workers (`subledger workers`) are connected; the waiting rows through the partial index
-- outbox_waiting.
SELECT count(*), min(outbox_id), coalesce(extract(epoch FROM clock_timestamp() - min(inserted_at)), 0)::float8,
       (SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name LIKE 'subledger-worker%%')
  FROM ingest.outbox
 WHERE processed_at IS NULL
