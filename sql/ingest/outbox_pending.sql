-- Outbox rows committed after the last outbox batch's window that are safe to read now (the same
-- window as outbox_window.sql): how many a run would post. Uses the index on inserted_xid.
WITH window_ AS (
    SELECT coalesce((SELECT max(outbox_xmax) FROM ingest.batches WHERE source_kind = 'outbox'), '0'::xid8) AS low,
           pg_snapshot_xmin(pg_current_snapshot()) AS high
)
SELECT count(*), (SELECT low::text FROM window_)
  FROM ingest.outbox o, window_ w
 WHERE o.inserted_xid >= w.low AND o.inserted_xid < w.high
