-- Which of these content claims a batch of this source kind holds already (one probe of the unique
-- index batches_once_per_content per claim).
SELECT content_hash FROM ingest.batches
 WHERE source_kind = %(source_kind)s AND content_hash = ANY (%(claims)s::text[])
