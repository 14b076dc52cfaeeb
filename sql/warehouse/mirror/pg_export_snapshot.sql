-- The reader's snapshot, exported so a prefetching connection reads exactly the same rows
-- (SET TRANSACTION SNAPSHOT); valid while the exporting transaction is open.
SELECT pg_export_snapshot()
