-- Ingestion bookkeeping as it is now (applied after ledger.sql): batches (one per landed file,
-- outbox read or replay), per-event outcomes other than posted/pending (those are ledger rows),
-- the quarantine of every rejected event, and the outbox the application writes into.
--
-- A batch is one database transaction (invariant I12): its row is inserted first (claiming the
-- content hash, so a concurrent ingester of the same file waits, then finds it done) and its
-- counts are filled in before commit. A crash anywhere before commit leaves no trace; after
-- commit, a rerun is a no-op.

CREATE SCHEMA ingest;
GRANT USAGE ON SCHEMA ingest TO subledger_writer, subledger_reader;

CREATE TABLE ingest.batches (
    batch_id        uuid PRIMARY KEY,
    source_kind     text NOT NULL CHECK (source_kind IN ('file', 'outbox', 'replay')),
    source_name     text NOT NULL,            -- file path, or the outbox xid range
    content_hash    text NOT NULL,            -- sha256 of the file bytes / of the outbox rows read
    started_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    events          bigint NOT NULL DEFAULT 0,
    posted          bigint NOT NULL DEFAULT 0,
    pending         bigint NOT NULL DEFAULT 0,
    duplicate       bigint NOT NULL DEFAULT 0,
    quarantined     bigint NOT NULL DEFAULT 0,
    backdated       bigint NOT NULL DEFAULT 0,
    bytes           bigint NOT NULL DEFAULT 0,
    seconds         double precision,          -- wall time, for rows/s (not money)
    effective_dates date[] NOT NULL DEFAULT '{}',  -- reporting-time-zone days the batch touched
    reasons         jsonb NOT NULL DEFAULT '{}',   -- reason_code -> count
    outbox_xmin     xid8,                       -- outbox batches: the xid window read
    outbox_xmax     xid8,
    -- The database transaction that claimed the batch: only it fills in the counts
    -- (ingest.batches_before_update) and resolves quarantine entries (ingest.resolve_quarantine).
    claimed_xid     xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT counts_add_up CHECK (events = posted + pending + duplicate + quarantined)
);
-- A file is processed exactly once per content hash.
CREATE UNIQUE INDEX batches_once_per_content ON ingest.batches (source_kind, content_hash);
CREATE INDEX batches_by_completion ON ingest.batches (completed_at);

-- Outcomes of events that created no ledger row of their own: lifecycle moves, duplicates and
-- quarantine (the postings an event created are ledger rows, keyed by the event id).
CREATE TABLE ingest.event_outcomes (
    batch_id       uuid NOT NULL REFERENCES ingest.batches (batch_id),
    seq            bigint NOT NULL,
    event_id       text,
    -- posted: a lifecycle event (payment.settled, payment.failed) that moved its target; the
    -- ledger row of the target carries the event id as its transition_key, not as its own key.
    outcome        text NOT NULL CHECK (outcome IN ('posted', 'duplicate', 'quarantined')),
    reason_code    text,
    transaction_id uuid,                       -- the ledger transaction that stands (moved, duplicated)
    PRIMARY KEY (batch_id, seq),
    CHECK ((outcome = 'quarantined') = (reason_code IS NOT NULL)),
    CONSTRAINT a_move_names_its_transaction CHECK (outcome <> 'posted' OR transaction_id IS NOT NULL)
);
CREATE INDEX event_outcomes_by_event ON ingest.event_outcomes (event_id);

-- Rejected events, kept for replay (docs/source-events.md, "Quarantine").
CREATE TABLE ingest.quarantine (
    quarantine_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    batch_id          uuid NOT NULL REFERENCES ingest.batches (batch_id),
    seq               bigint,                  -- NULL when the whole file was unreadable
    line_no           bigint,
    event_id          text,
    event_type        text,
    reason_code       text NOT NULL,
    message           text NOT NULL,
    raw               bytea NOT NULL,          -- the event exactly as received (empty: see file_*)
    source_name       text NOT NULL,
    quarantined_at    timestamptz NOT NULL DEFAULT now(),
    resolved_by_batch uuid REFERENCES ingest.batches (batch_id),
    resolved_at       timestamptz,
    resolution        text CHECK (resolution IN ('posted', 'pending', 'duplicate', 'requarantined')),
    -- The landed file of the batch: its path when ingested, the sha256 and size of its bytes. A
    -- whole file that could not be read, and a line too long to be held in memory, are not copied:
    -- raw is empty and these say where the bytes are. An entry refused without being read (a
    -- symbolic link, a FIFO, ...) has a path but no sha256 or size.
    file_path         text,
    file_sha256       text CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    file_bytes        bigint CHECK (file_bytes >= 0),
    -- The ledger transaction of the event that resolved the entry (sent again, posted or
    -- pending, or found to be a duplicate of it).
    resolved_transaction_id uuid,
    UNIQUE (batch_id, seq)
);
CREATE INDEX quarantine_open_by_event ON ingest.quarantine (event_id) WHERE resolved_at IS NULL;

-- The application's outbox: the same columns as a landed file, as text so that nothing is
-- coerced before validation (a timestamp without offset must be refused, not guessed).
CREATE TABLE ingest.outbox (
    outbox_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        text,
    event_type      text,
    effective_at    text,
    recorded_at     text,
    subscription_id text,
    customer_id     text,
    amount          text,
    currency        text,
    payload         text,
    metadata        text,
    inserted_at     timestamptz NOT NULL DEFAULT now(),
    inserted_xid    xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- The queue (functions/ingest.outbox_order_key.sql has the model): the whole event as one JSON
    -- object (one line) as the API received it, read exactly like a JSON-lines file; rows written
    -- with the envelope columns above leave it NULL.
    envelope        text,
    order_key       text NOT NULL,            -- set by the insert trigger (ingest.outbox_before_insert)
    lane            smallint NOT NULL,
    available_at    timestamptz NOT NULL DEFAULT now(),  -- a failed row waits until then
    tries           integer NOT NULL DEFAULT 0,          -- times claimed
    solo_tries      integer NOT NULL DEFAULT 0,          -- times claimed alone
    claim_size      integer,                             -- rows of its last claim
    claimed_at      timestamptz,
    last_error      text,
    processed_at    timestamptz,
    batch_id        uuid,
    CONSTRAINT outbox_envelope_is_one_line CHECK (envelope IS NULL OR (envelope !~ '[\n\r]' AND btrim(envelope) <> '')),
    CONSTRAINT outbox_envelope_or_columns
        CHECK (envelope IS NULL OR num_nonnulls(event_type, effective_at, recorded_at, subscription_id, customer_id,
                                                amount, currency, payload, metadata) = 0)
);
CREATE INDEX outbox_waiting ON ingest.outbox (lane, outbox_id) WHERE processed_at IS NULL;
CREATE INDEX outbox_by_event ON ingest.outbox (event_id, outbox_id);
CREATE INDEX outbox_processed ON ingest.outbox (processed_at) WHERE processed_at IS NOT NULL;

-- Per-event outcomes in one place: ledger rows for what an event created (posted/pending), the
-- table above for lifecycle moves, duplicates and quarantine.
CREATE VIEW ingest.events AS
SELECT t.batch_id, t.source_event_id AS event_id, t.status AS outcome, NULL::text AS reason_code,
       t.transaction_id, t.created_at AS at
  FROM ledger.transactions t
 WHERE t.source_event_id IS NOT NULL AND t.idempotency_key = t.source_event_id
UNION ALL
SELECT o.batch_id, o.event_id, o.outcome, o.reason_code, o.transaction_id, b.started_at
  FROM ingest.event_outcomes o JOIN ingest.batches b USING (batch_id);

GRANT SELECT ON ingest.batches, ingest.event_outcomes, ingest.quarantine, ingest.outbox, ingest.events
    TO subledger_reader, subledger_writer;
-- The writer claims a batch and fills in its counts in the same database transaction; what a
-- batch is (source, content hash) and a quarantine entry's resolution are not its to change
-- (quarantine entries are resolved by ingest.resolve_quarantine, which checks the replay).
GRANT INSERT (batch_id, source_kind, source_name, content_hash, bytes, outbox_xmin, outbox_xmax) ON ingest.batches
    TO subledger_writer;
GRANT UPDATE (events, posted, pending, duplicate, quarantined, backdated, seconds, effective_dates, reasons, completed_at)
    ON ingest.batches TO subledger_writer;
GRANT INSERT ON ingest.event_outcomes TO subledger_writer;
GRANT INSERT ON ingest.quarantine TO subledger_writer;
GRANT INSERT (event_id, event_type, effective_at, recorded_at, subscription_id, customer_id, amount, currency, payload, metadata,
              envelope)
    ON ingest.outbox TO subledger_writer;

-- -- the recording service's API keys ----------------------------------------------------------
CREATE SCHEMA service;
REVOKE ALL ON SCHEMA service FROM PUBLIC;
GRANT USAGE ON SCHEMA service TO subledger_writer, subledger_reader;

-- A key is shown once ("sl_<key_id>_<secret>"); only the SHA-256 of the whole key is stored.
-- Keys are 256-bit random, so a fast hash is the right one (nothing to brute-force); the owner
-- creates and revokes them (subledger keys ...), the API reads them as the reader.
CREATE TABLE service.api_keys (
    key_id     text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{12}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    scope      text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    key_sha256 bytea NOT NULL CHECK (length(key_sha256) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
GRANT SELECT ON service.api_keys TO subledger_reader, subledger_writer;
