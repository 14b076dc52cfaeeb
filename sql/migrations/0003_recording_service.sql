-- depends: 0002_from_stacked_migrations
--
-- The recording service (docs/recording-service.md) on a database that has the baseline:
-- ingest.outbox becomes a durable work queue (its functions and the insert trigger that keys each
-- row are in sql/schema/functions/ingest.*.sql, applied after this), and the HTTP API gets hashed
-- API keys. Tables and data only, as every migration (README.md here).
--
-- Rows waiting at the upgrade all get one order key, so they keep the one-consumer order they were
-- written in (one lane, outbox_id order); rows inserted afterwards are keyed by the trigger.

ALTER TABLE ingest.outbox
    ADD COLUMN envelope     text,
    ADD COLUMN order_key    text,
    ADD COLUMN lane         smallint,
    ADD COLUMN available_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN tries        integer NOT NULL DEFAULT 0,
    ADD COLUMN solo_tries   integer NOT NULL DEFAULT 0,
    ADD COLUMN claim_size   integer,
    ADD COLUMN claimed_at   timestamptz,
    ADD COLUMN last_error   text,
    ADD COLUMN processed_at timestamptz,
    ADD COLUMN batch_id     uuid,
    ADD CONSTRAINT outbox_envelope_is_one_line
        CHECK (envelope IS NULL OR (envelope !~ '[\n\r]' AND btrim(envelope) <> '')),
    ADD CONSTRAINT outbox_envelope_or_columns
        CHECK (envelope IS NULL OR num_nonnulls(event_type, effective_at, recorded_at, subscription_id, customer_id,
                                                amount, currency, payload, metadata) = 0);

-- Rows the window-based reader already posted are done; the others wait, in one lane, in order.
UPDATE ingest.outbox
   SET processed_at = now()
 WHERE inserted_xid < coalesce((SELECT max(outbox_xmax) FROM ingest.batches WHERE source_kind = 'outbox'), '0'::xid8);
UPDATE ingest.outbox
   SET order_key = CASE WHEN processed_at IS NULL THEN 'upgrade:waiting' ELSE 'event:' || outbox_id END,
       lane = 0;
ALTER TABLE ingest.outbox ALTER COLUMN order_key SET NOT NULL, ALTER COLUMN lane SET NOT NULL;

DROP INDEX ingest.outbox_by_xid;  -- the xid window is gone: rows are claimed, not read by window
CREATE INDEX outbox_waiting ON ingest.outbox (lane, outbox_id) WHERE processed_at IS NULL;
CREATE INDEX outbox_by_event ON ingest.outbox (event_id, outbox_id);
CREATE INDEX outbox_processed ON ingest.outbox (processed_at) WHERE processed_at IS NOT NULL;
GRANT INSERT (envelope) ON ingest.outbox TO subledger_writer;

CREATE SCHEMA service;
REVOKE ALL ON SCHEMA service FROM PUBLIC;
GRANT USAGE ON SCHEMA service TO subledger_writer, subledger_reader;
CREATE TABLE service.api_keys (
    key_id     text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{12}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    scope      text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    key_sha256 bytea NOT NULL CHECK (length(key_sha256) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
GRANT SELECT ON service.api_keys TO subledger_reader, subledger_writer;
