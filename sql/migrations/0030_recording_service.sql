-- depends: 0025_account_codes_nfc
--
-- The recording service (docs/recording-service.md): ingest.outbox becomes a durable work queue
-- drained by N workers, and the HTTP API gets hashed API keys. Self-contained: tables, indexes,
-- functions and grants of the service are all here.
--
-- Queue model
-- * Every outbox row has an ORDER KEY (ingest.outbox_order_key) and a LANE = hash(key) mod 64.
--   Rows of one lane are posted in outbox_id order by one worker at a time; different lanes run
--   in parallel. The key is the subscription for subscription events, the target's key for
--   events that name a target_event_id (lifecycle moves, reversals), the first guarded account
--   (conditions / lock_version) of a journal, else the event itself: everything whose outcome
--   depends on order (balance conditions, lock versions, moves and reversals of one target)
--   shares a lane.
-- * ingest.claim_outbox takes lanes with session advisory locks (pg_try_advisory_lock, so a lane
--   held by a live worker is skipped, and a killed worker's lanes are free the moment its
--   connection drops), locks the lanes' oldest waiting rows FOR UPDATE SKIP LOCKED, counts the try
--   and commits. The worker then posts the rows and marks them done (ingest.finish_outbox) in ONE
--   database transaction: a crash anywhere loses and doubles nothing.
-- * A row claimed again (tries > 0: the last try crashed or failed) is a suspect: it is claimed
--   alone with the suspects next to it, a quarter of the last claim at a time, down to one row.
--   A row that failed alone p_max_solo_tries times is handed back as poison and quarantined
--   by the worker (reason unreadable_file, the message names the error), never blocking its lane.
-- * Processed rows keep processed_at and batch_id (the per-event status of the API) until
--   ingest.prune_outbox deletes them after the retention period.

-- -- outbox columns --------------------------------------------------------------------------------

ALTER TABLE ingest.outbox
    -- The whole event as one JSON object (one line), as the API received it: read exactly like a
    -- JSON-lines file (types, number literals and repeated keys as sent). Rows written with the
    -- envelope columns instead leave it NULL.
    ADD COLUMN envelope     text,
    ADD COLUMN order_key    text,
    ADD COLUMN lane         smallint,
    ADD COLUMN available_at timestamptz NOT NULL DEFAULT now(),  -- a failed row waits until then
    ADD COLUMN tries        integer NOT NULL DEFAULT 0,                -- times claimed
    ADD COLUMN solo_tries   integer NOT NULL DEFAULT 0,                -- times claimed alone
    ADD COLUMN claim_size   integer,                                   -- rows of its last claim
    ADD COLUMN claimed_at   timestamptz,
    ADD COLUMN last_error   text,
    ADD COLUMN processed_at timestamptz,
    ADD COLUMN batch_id     uuid,
    ADD CONSTRAINT outbox_envelope_is_one_line
        CHECK (envelope IS NULL OR (envelope !~ '[\n\r]' AND btrim(envelope) <> '')),
    ADD CONSTRAINT outbox_envelope_or_columns
        CHECK (envelope IS NULL OR num_nonnulls(event_type, effective_at, recorded_at, subscription_id, customer_id,
                                                amount, currency, payload, metadata) = 0);

CREATE FUNCTION ingest.try_jsonb(p_text text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN p_text::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;  -- not JSON: validation quarantines the event; its order key falls back to its id
END $$;

CREATE FUNCTION ingest.outbox_lane(p_order_key text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (hashtextextended(p_order_key, 0) & 63)::smallint
$$;

-- The order key of an event (see the header). Reads earlier outbox rows for a target's key.
CREATE FUNCTION ingest.outbox_order_key(p_event_id text, p_subscription_id text, p_event_type text, p_payload jsonb,
                                        p_outbox_id bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    target text;
    found  text;
BEGIN
    IF jsonb_typeof(p_payload -> 'target_event_id') = 'string' THEN
        target := p_payload ->> 'target_event_id';
        SELECT o.order_key INTO found FROM ingest.outbox o
         WHERE o.event_id = target AND o.outbox_id < p_outbox_id ORDER BY o.outbox_id DESC LIMIT 1;
        IF found IS NOT NULL THEN
            RETURN found;
        END IF;
    END IF;
    IF p_subscription_id IS NOT NULL AND p_subscription_id <> '' THEN
        RETURN 'subscription:' || p_subscription_id;
    END IF;
    IF p_event_type = 'journal.posted' AND jsonb_typeof(p_payload -> 'legs') = 'array' THEN
        SELECT 'account:' || (leg ->> 'account') INTO found
          FROM jsonb_array_elements(p_payload -> 'legs') WITH ORDINALITY AS l (leg, n)
         WHERE jsonb_typeof(leg) = 'object' AND jsonb_typeof(leg -> 'account') = 'string'
           AND (leg ? 'conditions' OR leg ? 'lock_version')
         ORDER BY n LIMIT 1;
        IF found IS NOT NULL THEN
            RETURN found;
        END IF;
    END IF;
    IF target IS NOT NULL THEN
        RETURN 'event:' || target;
    END IF;
    RETURN 'event:' || coalesce(p_event_id, p_outbox_id::text);
END $$;

CREATE FUNCTION ingest.outbox_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    doc jsonb;
BEGIN
    IF NEW.envelope IS NOT NULL THEN
        doc := ingest.try_jsonb(NEW.envelope);
        IF jsonb_typeof(doc) <> 'object' THEN
            doc := NULL;
        END IF;
        NEW.event_id := CASE WHEN jsonb_typeof(doc -> 'event_id') = 'string' THEN doc ->> 'event_id' END;
        NEW.order_key := ingest.outbox_order_key(
            NEW.event_id,
            CASE WHEN jsonb_typeof(doc -> 'subscription_id') = 'string' THEN doc ->> 'subscription_id' END,
            CASE WHEN jsonb_typeof(doc -> 'event_type') = 'string' THEN doc ->> 'event_type' END,
            doc -> 'payload', NEW.outbox_id);
    ELSE
        NEW.order_key := ingest.outbox_order_key(NEW.event_id, NEW.subscription_id, NEW.event_type,
                                                 ingest.try_jsonb(NEW.payload), NEW.outbox_id);
    END IF;
    NEW.lane := ingest.outbox_lane(NEW.order_key);
    RETURN NEW;
END $$;

CREATE TRIGGER outbox_order_key BEFORE INSERT ON ingest.outbox
    FOR EACH ROW EXECUTE FUNCTION ingest.outbox_before_insert();

-- Rows the window-based reader already posted are done; the others wait, keyed like new rows.
UPDATE ingest.outbox
   SET processed_at = now()
 WHERE inserted_xid < coalesce((SELECT max(outbox_xmax) FROM ingest.batches WHERE source_kind = 'outbox'), '0'::xid8);
UPDATE ingest.outbox o
   SET order_key = ingest.outbox_order_key(o.event_id, o.subscription_id, o.event_type, ingest.try_jsonb(o.payload),
                                           o.outbox_id)
 WHERE o.processed_at IS NULL;
UPDATE ingest.outbox SET order_key = 'event:' || outbox_id WHERE order_key IS NULL;
UPDATE ingest.outbox SET lane = ingest.outbox_lane(order_key);
ALTER TABLE ingest.outbox ALTER COLUMN order_key SET NOT NULL, ALTER COLUMN lane SET NOT NULL;

DROP INDEX ingest.outbox_by_xid;  -- the xid window is gone: rows are claimed, not read by window
CREATE INDEX outbox_waiting ON ingest.outbox (lane, outbox_id) WHERE processed_at IS NULL;
CREATE INDEX outbox_by_event ON ingest.outbox (event_id, outbox_id);
CREATE INDEX outbox_processed ON ingest.outbox (processed_at) WHERE processed_at IS NOT NULL;

-- -- queue functions (SECURITY DEFINER: the writer moves rows only through them) ---------------

-- Claim up to p_max_rows waiting rows (see the header), only rows up to outbox_id p_up_to if
-- given (a drain that ends). Releases the lanes this session held from its previous claim first.
-- Returns the claimed rows in outbox_id order with their tries.
CREATE FUNCTION ingest.claim_outbox(p_max_rows integer, p_up_to bigint DEFAULT NULL)
RETURNS TABLE (outbox_id bigint, lane smallint, tries integer, solo_tries integer, claim_size integer, last_error text,
               envelope text, event_id text, event_type text, effective_at text, recorded_at text,
               subscription_id text, customer_id text, amount text, currency text, payload text, metadata text,
               inserted_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    lane_class CONSTANT integer := 2954;  -- advisory lock class of the lanes (the lane is the second key)
    cand    record;
    taken   bigint[] := '{}';
    ids     bigint[];
    counts  integer[];
    head    record;
    budget  integer;
    i       integer;
BEGIN
    PERFORM pg_advisory_unlock_all();
    FOR cand IN
        SELECT l.lane AS lane_no, h.outbox_id AS head_id
          FROM generate_series(0, 63) AS l (lane)
          CROSS JOIN LATERAL (SELECT o.outbox_id, o.available_at FROM ingest.outbox o
                               WHERE o.lane = l.lane AND o.processed_at IS NULL
                                 AND (p_up_to IS NULL OR o.outbox_id <= p_up_to)
                               ORDER BY o.outbox_id LIMIT 1) h
         WHERE h.available_at <= clock_timestamp()
         ORDER BY h.outbox_id
    LOOP
        EXIT WHEN cardinality(taken) >= p_max_rows;
        CONTINUE WHEN NOT pg_try_advisory_lock(lane_class, cand.lane_no);
        -- The lane is ours; read its head again (the previous holder may have just finished).
        SELECT array_agg(w.outbox_id ORDER BY w.outbox_id), array_agg(w.tries ORDER BY w.outbox_id)
          INTO ids, counts
          FROM (SELECT o.outbox_id, o.tries FROM ingest.outbox o
                 WHERE o.lane = cand.lane_no AND o.processed_at IS NULL
                   AND (p_up_to IS NULL OR o.outbox_id <= p_up_to)
                 ORDER BY o.outbox_id LIMIT p_max_rows - cardinality(taken)
                   FOR UPDATE SKIP LOCKED) w;
        SELECT o.available_at, o.claim_size INTO head FROM ingest.outbox o WHERE o.outbox_id = ids[1];
        IF ids IS NULL OR head.available_at > clock_timestamp() OR (counts[1] > 0 AND cardinality(taken) > 0) THEN
            PERFORM pg_advisory_unlock(lane_class, cand.lane_no);
            CONTINUE;
        END IF;
        IF counts[1] > 0 THEN  -- suspects: alone, a quarter of their last claim at a time
            budget := greatest(1, coalesce(head.claim_size, 1) / 4);
            FOR i IN 1 .. least(cardinality(ids), budget) LOOP
                EXIT WHEN counts[i] = 0;
                taken := taken || ids[i];
            END LOOP;
            EXIT;
        END IF;
        FOR i IN 1 .. cardinality(ids) LOOP
            EXIT WHEN counts[i] > 0;
            taken := taken || ids[i];
        END LOOP;
    END LOOP;
    IF cardinality(taken) = 0 THEN
        RETURN;
    END IF;
    UPDATE ingest.outbox o
       SET tries = o.tries + 1,
           solo_tries = o.solo_tries + (cardinality(taken) = 1)::integer,
           claim_size = cardinality(taken),
           claimed_at = clock_timestamp()
     WHERE o.outbox_id = ANY (taken);
    RETURN QUERY
        SELECT o.outbox_id, o.lane, o.tries, o.solo_tries, o.claim_size, o.last_error, o.envelope, o.event_id,
               o.event_type, o.effective_at, o.recorded_at, o.subscription_id, o.customer_id, o.amount, o.currency,
               o.payload, o.metadata, o.inserted_at
          FROM ingest.outbox o
         WHERE o.outbox_id = ANY (taken)
         ORDER BY o.outbox_id;
END $$;

-- Mark claimed rows done by batch p_batch_id, in the transaction that posted them. Raises if a
-- row is no longer waiting (it would be posted twice): the caller's transaction rolls back.
CREATE FUNCTION ingest.finish_outbox(p_outbox_ids bigint[], p_batch_id uuid) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    done integer;
BEGIN
    UPDATE ingest.outbox o SET processed_at = clock_timestamp(), batch_id = p_batch_id, last_error = NULL
     WHERE o.outbox_id = ANY (p_outbox_ids) AND o.processed_at IS NULL;
    GET DIAGNOSTICS done = ROW_COUNT;
    IF done <> cardinality(p_outbox_ids) THEN
        RAISE EXCEPTION 'outbox rows claimed by this worker were processed by another (% of % still waiting)',
            done, cardinality(p_outbox_ids) USING ERRCODE = 'LDQ01',
            HINT = 'Nothing of this batch was written; the rows are posted once by the other worker.';
    END IF;
    RETURN done;
END $$;

-- Record why a claim failed; its rows wait p_retry_after before they are claimed again.
CREATE FUNCTION ingest.fail_outbox(p_outbox_ids bigint[], p_error text, p_retry_after interval) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE ingest.outbox o SET last_error = left(p_error, 2000), available_at = clock_timestamp() + p_retry_after
     WHERE o.outbox_id = ANY (p_outbox_ids) AND o.processed_at IS NULL;
$$;

-- Delete up to p_max_rows rows processed before now() - p_retention; returns how many.
CREATE FUNCTION ingest.prune_outbox(p_retention interval, p_max_rows integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    removed bigint;
BEGIN
    DELETE FROM ingest.outbox o
     WHERE o.outbox_id IN (SELECT p.outbox_id FROM ingest.outbox p
                            WHERE p.processed_at IS NOT NULL AND p.processed_at < clock_timestamp() - p_retention
                            ORDER BY p.processed_at LIMIT p_max_rows);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END $$;

REVOKE ALL ON FUNCTION ingest.claim_outbox(integer, bigint), ingest.finish_outbox(bigint[], uuid),
    ingest.fail_outbox(bigint[], text, interval), ingest.prune_outbox(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.claim_outbox(integer, bigint), ingest.finish_outbox(bigint[], uuid),
    ingest.fail_outbox(bigint[], text, interval), ingest.prune_outbox(interval, integer) TO subledger_writer;
GRANT INSERT (envelope) ON ingest.outbox TO subledger_writer;

-- -- API keys ------------------------------------------------------------------------------------

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
