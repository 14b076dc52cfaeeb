-- Ingestion batches completed since %(since)s (the sensor's cursor minus a look-back, because
-- completed_at is set shortly before the batch commits), with the days they touched.
SELECT b.batch_id::text, b.completed_at, b.effective_dates
  FROM ingest.batches b
 WHERE b.completed_at >= %(since)s
   AND cardinality(b.effective_dates) > 0
 ORDER BY b.completed_at, b.batch_id
 LIMIT %(limit)s
