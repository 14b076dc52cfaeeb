-- Claim up to p_max_rows waiting rows (see the header), only rows up to outbox_id p_up_to if
-- given (a drain that ends). Releases the lanes this session held from its previous claim first.
-- Returns the claimed rows in outbox_id order with their tries.
CREATE OR REPLACE FUNCTION ingest.claim_outbox(p_max_rows integer, p_up_to bigint DEFAULT NULL)
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

REVOKE ALL ON FUNCTION ingest.claim_outbox(integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.claim_outbox(integer, bigint) TO subledger_writer;
