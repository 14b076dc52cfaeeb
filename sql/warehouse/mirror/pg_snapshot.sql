-- The mirror read's snapshot (the watermark) and the wall time right after it was taken.
-- Run as the first statement of a REPEATABLE READ transaction: every later read sees exactly it.
SELECT pg_current_snapshot()::text AS snapshot, clock_timestamp() AS taken_at
