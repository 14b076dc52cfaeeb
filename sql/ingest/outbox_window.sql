-- The outbox rows that are safe to read now: inserted by transactions that finished before every
-- transaction still running (xid below the snapshot's xmin) and after the last batch's window.
SELECT coalesce((SELECT max(outbox_xmax) FROM ingest.batches WHERE source_kind = 'outbox'), '0'::xid8) AS low,
       pg_snapshot_xmin(pg_current_snapshot()) AS high
