-- ledger.chain_records(lo, hi): the records the chain seals for the Postgres transaction ids
-- [lo, hi) (I15), one row each with its sha256 digest, in record order (kind, xid, id):
--   1 a transaction as it was created (created_xid in the range): every column but the lifecycle
--     ones, its status and posted_at as inserted (a moved transaction was inserted pending), and
--     its entries, each as its own binary row, concatenated in entry_no order (NULL if none);
--   2 a lifecycle move (changed_xid in the range, status_changed_at set): the lifecycle columns;
--   3 an audit-log row (xid in the range): every column.
-- Record format 2: a record's digest is sha256(record_send(ROW(...))) of the explicit columns
-- below, Postgres' binary row format: the column count, then per column its type oid, its byte
-- length (-1 for NULL) and its value in the type's binary format (big-endian integers, 16-byte
-- uuids, timestamps as microseconds since 2000-01-01 UTC, text as UTF-8 -- client_encoding is
-- fixed here -- and jsonb as a version byte and its canonical text). Nothing is formatted, so no
-- session setting enters a record; a column added later does not change old digests; NULL and ''
-- differ. docs/security.md ("Record format") spells it out for an external verifier.
--
-- The range's transactions are read once for the record and once, by id, for their entries (on
-- effective_at too, I5, so only the partitions of the months the range touches are read). A
-- handful of transactions (single postings) reach their entries by primary key, one lookup each;
-- from 10,000 on (a bulk batch) the entries of all of them are found by one hash join and grouped
-- once, whatever the statistics say (right after a bulk COPY they still describe the table before
-- it, and would have the planner look entries up one transaction at a time). The query is
-- planned with the range's values. The server's work_mem applies (the embedded cluster's 64MB
-- keeps a 200,000-transaction batch's sort in memory).
CREATE OR REPLACE FUNCTION ledger.chain_records(p_lo xid8, p_hi xid8)
RETURNS TABLE (kind smallint, xid xid8, id uuid, digest bytea)
LANGUAGE plpgsql STABLE SET client_encoding TO 'UTF8' AS $$
DECLARE
    created bigint;
    first_at timestamptz;
    last_at timestamptz;
    nestloop text := current_setting('enable_nestloop');
    legs text;
BEGIN
    -- changed_xid >= created_xid always: the index on changed_xid bounds the scans
    SELECT count(*), min(t.effective_at), max(t.effective_at) INTO created, first_at, last_at
      FROM ledger.transactions t
     WHERE t.changed_xid >= p_lo AND t.created_xid >= p_lo AND t.created_xid < p_hi;
    -- a transaction's entries, each as its binary row, concatenated in entry_no order
    legs := $legs$string_agg(record_send(ROW(e.entry_no, e.account_id, e.direction, e.amount, e.currency, e.effective_at)),
                             ''::bytea ORDER BY e.entry_no)$legs$;
    IF created >= 10000 THEN
        PERFORM set_config('enable_nestloop', 'off', true);
        legs := format($bulk$(
            SELECT e.transaction_id, %s AS legs
              FROM ledger.transactions t
              JOIN ledger.entries e ON e.transaction_id = t.transaction_id AND e.effective_at = t.effective_at
             WHERE t.changed_xid >= $1 AND t.created_xid >= $1 AND t.created_xid < $2 AND e.effective_at BETWEEN $3 AND $4
             GROUP BY e.transaction_id) l USING (transaction_id)$bulk$, legs);
    ELSE
        legs := format($single$LATERAL (
            SELECT %s AS legs
              FROM ledger.entries e
             WHERE e.transaction_id = c.transaction_id AND e.effective_at = c.effective_at
               AND e.effective_at BETWEEN $3 AND $4) l ON true$single$, legs);
    END IF;
    RETURN QUERY EXECUTE format($records$
    SELECT 1::smallint, c.created_xid, c.transaction_id,
           sha256(record_send(ROW(
               'transaction'::text, c.transaction_id, c.idempotency_key,
               CASE WHEN c.status_changed_at IS NULL THEN c.status ELSE 'pending' END,
               c.effective_at, c.created_at,
               CASE WHEN c.status_changed_at IS NULL THEN c.posted_at END,
               c.reverses_transaction_id, c.reference, c.source_event_id, c.source_event_type, c.batch_id,
               c.content_hash, c.description, c.metadata, c.source, c.created_xid, l.legs)))
      FROM ledger.transactions c
      LEFT JOIN %s
     WHERE c.changed_xid >= $1 AND c.created_xid >= $1 AND c.created_xid < $2
    UNION ALL
    SELECT 2::smallint, t.changed_xid, t.transaction_id,
           sha256(record_send(ROW(
               'move'::text, t.transaction_id, t.status, t.posted_at, t.archived_at, t.status_changed_at,
               t.transition_key, t.transition_hash, t.changed_xid)))
      FROM ledger.transactions t
     WHERE t.changed_xid >= $1 AND t.changed_xid < $2 AND t.status_changed_at IS NOT NULL
    UNION ALL
    SELECT 3::smallint, a.xid, a.audit_id,
           sha256(record_send(ROW(
               'audit'::text, a.audit_id, a.at, a.actor, a.action, a.target_type, a.target_id, a.before, a.after,
               a.reason, a.batch_id, a.xid, a.db_user)))
      FROM ledger.audit_log a
     WHERE a.xid >= $1 AND a.xid < $2
    ORDER BY 1, 2, 3
    $records$, legs) USING p_lo, p_hi, first_at, last_at;
    PERFORM set_config('enable_nestloop', nestloop, true);
END
$$;

REVOKE ALL ON FUNCTION ledger.chain_records(xid8, xid8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.chain_records(xid8, xid8) TO subledger_reader, subledger_writer;
