-- Enqueue events (the API's POST /v1/events), in the order given: one row per event, its JSON
-- object in `envelope`. An event already in the outbox with the same text (so the same id),
-- waiting or posted -- not quarantined: a quarantined event sent again is processed again -- is
-- not enqueued twice, nor is one repeated within the request; its row is answered instead.
-- Returns, in the order given, (n, outbox_id, already_enqueued).
WITH incoming AS (
    SELECT i.n, i.event_id, i.envelope
      FROM unnest(%(event_ids)s::text[], %(envelopes)s::text[]) WITH ORDINALITY AS i (event_id, envelope, n)
), firsts AS (
    SELECT DISTINCT ON (envelope) n, event_id, envelope FROM incoming ORDER BY envelope, n
), known AS (
    SELECT DISTINCT ON (f.n) f.n, o.outbox_id
      FROM firsts f
      JOIN ingest.outbox o ON o.event_id = f.event_id AND o.envelope = f.envelope
     WHERE NOT EXISTS (SELECT 1 FROM ingest.event_outcomes eo
                        WHERE eo.batch_id = o.batch_id AND eo.event_id = o.event_id AND eo.outcome = 'quarantined')
     ORDER BY f.n, o.outbox_id DESC
), added AS (
    INSERT INTO ingest.outbox (envelope)
    SELECT f.envelope FROM firsts f WHERE f.n NOT IN (SELECT n FROM known) ORDER BY f.n
    RETURNING outbox_id, envelope
)
SELECT i.n, coalesce(k.outbox_id, a.outbox_id), k.outbox_id IS NOT NULL OR i.n <> f.n
  FROM incoming i
  JOIN firsts f USING (envelope)
  LEFT JOIN known k ON k.n = f.n
  LEFT JOIN added a ON a.envelope = f.envelope
 ORDER BY i.n
