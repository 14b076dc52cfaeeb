UPDATE ingest.batches
   SET events = %(events)s, posted = %(posted)s, pending = %(pending)s, duplicate = %(duplicate)s,
       quarantined = %(quarantined)s, backdated = %(backdated)s, seconds = %(seconds)s,
       effective_dates = %(effective_dates)s::date[], reasons = %(reasons)s, completed_at = clock_timestamp()
 WHERE batch_id = %(batch_id)s
