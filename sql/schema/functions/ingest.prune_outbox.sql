-- Delete up to p_max_rows rows processed before now() - p_retention; returns how many.
CREATE OR REPLACE FUNCTION ingest.prune_outbox(p_retention interval, p_max_rows integer) RETURNS bigint
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

REVOKE ALL ON FUNCTION ingest.prune_outbox(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.prune_outbox(interval, integer) TO subledger_writer;
