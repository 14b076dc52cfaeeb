SELECT batch_id::text, source_name, events, posted, pending, duplicate, quarantined, backdated, bytes, seconds,
       effective_dates, reasons, completed_at
  FROM ingest.batches
 WHERE source_kind = %(source_kind)s AND content_hash = %(content_hash)s
