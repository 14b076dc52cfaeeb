-- ingest.outbox_order_key(...): the order key of an event. ingest.outbox is the recording
-- service's durable work queue, drained by N workers (docs/recording-service.md). Queue model:
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
-- Reads earlier outbox rows for a target's key.
CREATE OR REPLACE FUNCTION ingest.outbox_order_key(p_event_id text, p_subscription_id text, p_event_type text, p_payload jsonb,
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
