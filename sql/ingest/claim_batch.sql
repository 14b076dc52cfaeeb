-- Claim a batch for this content. A concurrent claim of the same content waits here until the
-- first commits (then nothing is returned: the content was ingested) or rolls back.
INSERT INTO ingest.batches (batch_id, source_kind, source_name, content_hash, bytes, outbox_xmin, outbox_xmax)
VALUES (%(batch_id)s, %(source_kind)s, %(source_name)s, %(content_hash)s, %(bytes)s,
        %(outbox_xmin)s::text::xid8, %(outbox_xmax)s::text::xid8)
ON CONFLICT (source_kind, content_hash) DO NOTHING
RETURNING batch_id::text
