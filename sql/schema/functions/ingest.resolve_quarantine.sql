-- ingest.resolve_quarantine(batch, event_ids, outcomes, transaction_ids): the only way open
-- quarantine entries are resolved (docs/source-events.md, "Quarantine"; issue 20: the writer
-- marked every open entry resolved without any replay). Called by the batch that has an outcome
-- for the events, in the database transaction that claimed it; each outcome must be one the
-- database can see in that transaction:
--   posted / pending  the transaction given was created or moved in this database transaction;
--   duplicate         the batch recorded the event as a duplicate (ingest.event_outcomes);
--   quarantined       the batch quarantined the event again (requarantined).
-- Every open entry of those event ids from other batches is resolved and the replay recorded in
-- the audit log ('event.replayed'). SECURITY DEFINER: the writer has no UPDATE on the resolution
-- columns and no INSERT on the audit log. Returns the number of entries resolved.
CREATE OR REPLACE FUNCTION ingest.resolve_quarantine(p_batch_id uuid, p_event_ids text[], p_outcomes text[],
                                                     p_transaction_ids uuid[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ingest, ledger, pg_catalog AS $$
DECLARE
    bad record;
    resolved bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ingest.batches b WHERE b.batch_id = p_batch_id AND b.claimed_xid = pg_current_xact_id()) THEN
        RAISE EXCEPTION USING
            ERRCODE = '42501',
            MESSAGE = format('batch %s was not claimed by this database transaction: it cannot resolve quarantine entries', p_batch_id),
            HINT = 'Quarantine entries are resolved by the batch that replays their events.';
    END IF;
    SELECT u.event_id, u.outcome, u.transaction_id INTO bad
      FROM unnest(p_event_ids, p_outcomes, p_transaction_ids) AS u(event_id, outcome, transaction_id)
     WHERE NOT CASE u.outcome
         WHEN 'posted' THEN EXISTS (SELECT 1 FROM ledger.transactions t WHERE t.transaction_id = u.transaction_id
                                       AND pg_current_xact_id() IN (t.created_xid, t.changed_xid))
         WHEN 'pending' THEN EXISTS (SELECT 1 FROM ledger.transactions t WHERE t.transaction_id = u.transaction_id
                                        AND t.created_xid = pg_current_xact_id())
         WHEN 'duplicate' THEN EXISTS (SELECT 1 FROM ingest.event_outcomes o WHERE o.batch_id = p_batch_id
                                          AND o.event_id = u.event_id AND o.outcome = 'duplicate')
         WHEN 'quarantined' THEN EXISTS (SELECT 1 FROM ingest.quarantine q WHERE q.batch_id = p_batch_id
                                            AND q.event_id = u.event_id)
         ELSE false END
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = '42501',
            MESSAGE = format('event %s: outcome %s (transaction %s) is not one batch %s recorded', bad.event_id, bad.outcome,
                             bad.transaction_id, p_batch_id),
            HINT = 'Quarantine entries are resolved by the batch that replays their events.';
    END IF;
    WITH outcome AS (
        SELECT event_id, outcome, transaction_id
          FROM unnest(p_event_ids, p_outcomes, p_transaction_ids) AS u(event_id, outcome, transaction_id)
    ), done AS (
        UPDATE ingest.quarantine q
           SET resolved_by_batch = p_batch_id, resolved_at = clock_timestamp(),
               resolution = CASE o.outcome WHEN 'quarantined' THEN 'requarantined' ELSE o.outcome END,
               resolved_transaction_id = o.transaction_id
          FROM outcome o
         WHERE q.event_id = o.event_id AND q.resolved_at IS NULL AND q.batch_id <> p_batch_id
        RETURNING q.quarantine_id, q.event_id, q.reason_code, q.resolution, q.resolved_transaction_id
    )
    INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
    SELECT 'event.replayed', 'quarantine', quarantine_id::text,
           jsonb_build_object('event_id', event_id, 'reason_code', reason_code),
           jsonb_build_object('batch_id', p_batch_id, 'resolution', resolution, 'transaction_id', resolved_transaction_id)
      FROM done;
    GET DIAGNOSTICS resolved = ROW_COUNT;
    RETURN resolved;
END
$$;

REVOKE ALL ON FUNCTION ingest.resolve_quarantine(uuid, text[], text[], uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest.resolve_quarantine(uuid, text[], text[], uuid[]) TO subledger_writer;
