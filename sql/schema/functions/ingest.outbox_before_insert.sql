-- ingest.outbox_before_insert(): every outbox row gets its order key and lane as it is inserted.
CREATE OR REPLACE FUNCTION ingest.outbox_before_insert() RETURNS trigger
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

CREATE OR REPLACE TRIGGER outbox_order_key BEFORE INSERT ON ingest.outbox
    FOR EACH ROW EXECUTE FUNCTION ingest.outbox_before_insert();
