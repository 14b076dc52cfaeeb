-- ledger.record_corrections(reversal_ids, replacement_ids): records in the audit log that each
-- reversal (a transaction reversing another, found by its business reference) and its
-- replacement correct the reversed transaction ('transaction.corrected'). The database states the
-- facts -- which transaction was reversed, under which reference, by which event -- from the rows;
-- the caller names only the pair, and both must have been recorded in this database transaction.
-- SECURITY DEFINER: the writer has no INSERT on the audit log. Returns the number of rows recorded.
CREATE OR REPLACE FUNCTION ledger.record_corrections(p_reversal_ids uuid[], p_replacement_ids uuid[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    bad record;
    written bigint;
BEGIN
    SELECT u.reversal, u.replacement INTO bad
      FROM unnest(p_reversal_ids, p_replacement_ids) AS u(reversal, replacement)
     WHERE NOT EXISTS (SELECT 1 FROM ledger.transactions t WHERE t.transaction_id = u.reversal
                          AND t.reverses_transaction_id IS NOT NULL AND t.created_xid = pg_current_xact_id())
        OR (u.replacement IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM ledger.transactions t WHERE t.transaction_id = u.replacement
                               AND t.created_xid = pg_current_xact_id()))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = '42501',
            MESSAGE = format('a correction links a reversal and its replacement recorded in this database transaction; '
                             'reversal %s / replacement %s are not', bad.reversal, bad.replacement);
    END IF;
    INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
    SELECT 'transaction.corrected', 'transaction', r.reverses_transaction_id::text,
           jsonb_build_object('reference', o.reference),
           jsonb_build_object('event_id', r.source_event_id, 'reversal_transaction_id', r.transaction_id,
                              'replacement_transaction_id', u.replacement)
      FROM unnest(p_reversal_ids, p_replacement_ids) AS u(reversal, replacement)
      JOIN ledger.transactions r ON r.transaction_id = u.reversal
      JOIN ledger.transactions o ON o.transaction_id = r.reverses_transaction_id;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END
$$;

REVOKE ALL ON FUNCTION ledger.record_corrections(uuid[], uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.record_corrections(uuid[], uuid[]) TO subledger_writer;
