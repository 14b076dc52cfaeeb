-- Record why a claim failed; its rows wait p_retry_after before they are claimed again.
CREATE OR REPLACE FUNCTION ingest.fail_outbox(p_outbox_ids bigint[], p_error text, p_retry_after interval) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE ingest.outbox o SET last_error = left(p_error, 2000), available_at = clock_timestamp() + p_retry_after
     WHERE o.outbox_id = ANY (p_outbox_ids) AND o.processed_at IS NULL;
$$;

REVOKE ALL ON FUNCTION ingest.fail_outbox(bigint[], text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.fail_outbox(bigint[], text, interval) TO subledger_writer;
