-- Mark claimed rows done by batch p_batch_id, in the transaction that posted them. Raises if a
-- row is no longer waiting (it would be posted twice): the caller's transaction rolls back.
CREATE OR REPLACE FUNCTION ingest.finish_outbox(p_outbox_ids bigint[], p_batch_id uuid) RETURNS integer
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

REVOKE ALL ON FUNCTION ingest.finish_outbox(bigint[], uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.finish_outbox(bigint[], uuid) TO subledger_writer;
