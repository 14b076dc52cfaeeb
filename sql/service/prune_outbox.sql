-- Delete up to %(max_rows)s outbox rows processed more than %(retention)s ago.
SELECT ingest.prune_outbox(%(retention)s::interval, %(max_rows)s)
