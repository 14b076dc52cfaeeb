-- The queue at a glance (GET /metrics, the Dagster sensor and check). Waiting rows are read
-- through the partial index outbox_waiting; throughput and lag over the last %(window)s through
-- outbox_processed.
WITH waiting AS (
    SELECT count(*) AS depth,
           min(inserted_at) AS oldest,
           count(*) FILTER (WHERE tries > 0) AS retrying,
           count(*) FILTER (WHERE available_at > clock_timestamp()) AS backing_off
      FROM ingest.outbox WHERE processed_at IS NULL
), recent AS (
    SELECT count(*) AS processed,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - inserted_at)) AS lag_p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - inserted_at)) AS lag_p95,
           max(extract(epoch FROM processed_at - inserted_at)) AS lag_max
      FROM ingest.outbox
     WHERE processed_at IS NOT NULL AND processed_at > clock_timestamp() - %(window)s::interval
)
SELECT w.depth, coalesce(extract(epoch FROM clock_timestamp() - w.oldest), 0)::float8 AS oldest_age_seconds,
       w.retrying, w.backing_off, r.processed, coalesce(r.lag_p50, 0)::float8, coalesce(r.lag_p95, 0)::float8,
       coalesce(r.lag_max, 0)::float8,
       (SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name LIKE 'subledger-worker%%') AS workers,
       (SELECT count(*) FROM ingest.quarantine WHERE resolved_at IS NULL) AS open_quarantine
  FROM waiting w, recent r
