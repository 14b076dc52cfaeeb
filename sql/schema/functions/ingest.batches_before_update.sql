-- ingest.batches_before_update(): a batch's counts are filled in by the database transaction that
-- claimed it, and by no other (I12): a finished batch's counts (its quarantined events, its
-- duplicates) cannot be hidden later. The writer's column grants keep what a batch is (source,
-- content hash) out of its reach.
CREATE OR REPLACE FUNCTION ingest.batches_before_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.claimed_xid <> pg_current_xact_id() OR NEW.claimed_xid <> OLD.claimed_xid THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG03',
            MESSAGE = format('ingest batch %s (%s) is finished and can no longer change', OLD.batch_id, OLD.source_name),
            HINT = 'A batch is written whole by the transaction that claims it; ingest the content again as a new batch.';
    END IF;
    RETURN NEW;
END
$$;

REVOKE ALL ON FUNCTION ingest.batches_before_update() FROM PUBLIC;

CREATE OR REPLACE TRIGGER batches_filled_by_their_claim BEFORE UPDATE ON ingest.batches
    FOR EACH ROW EXECUTE FUNCTION ingest.batches_before_update();
