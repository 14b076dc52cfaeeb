-- The entries partitions of this month and the next two, made ahead of need (by every migrate) so
-- that the day-to-day write path never makes one; ledger.ensure_entry_partitions is a catalog
-- lookup per month when they exist.
SELECT ledger.ensure_entry_partitions(now(), now() + interval '2 months')
