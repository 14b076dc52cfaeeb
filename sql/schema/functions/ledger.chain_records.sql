-- ledger.chain_records(lo, hi): the records the chain seals for the Postgres transaction ids
-- [lo, hi) (I15), one row each with its sha256 digest, in record order (kind, xid, id):
--   1 a transaction as it was created (created_xid in the range): every column but the lifecycle
--     ones, its status and posted_at as inserted (a moved transaction was inserted pending), and
--     its entries in entry_no order;
--   2 a lifecycle move (changed_xid in the range, status_changed_at set): the lifecycle columns;
--   3 an audit-log row (xid in the range): every column.
-- A record is the text of a row of explicit columns (a column added later does not change old
-- digests; NULL and '' differ in it), written with the time zone fixed to UTC and ISO dates so the
-- text never depends on the caller's settings. Entries are joined on their transaction's effective_at too (I5), so a
-- partitioned entries table is read in the one partition that holds them.
CREATE OR REPLACE FUNCTION ledger.chain_records(p_lo xid8, p_hi xid8)
RETURNS TABLE (kind smallint, xid xid8, id uuid, digest bytea)
LANGUAGE sql STABLE SET timezone TO 'UTC' SET datestyle TO 'ISO, YMD' AS $$
    WITH created AS (
        -- changed_xid >= created_xid always: the index on changed_xid bounds the scan
        SELECT t.* FROM ledger.transactions t
         WHERE t.changed_xid >= p_lo AND t.created_xid >= p_lo AND t.created_xid < p_hi
    ), legs AS (
        SELECT e.transaction_id,
               string_agg(ROW(e.entry_no, e.account_id, e.direction, e.amount, e.currency, e.effective_at)::text, ','
                          ORDER BY e.entry_no) AS legs
          FROM created c
          JOIN ledger.entries e ON e.transaction_id = c.transaction_id AND e.effective_at = c.effective_at
         GROUP BY e.transaction_id
    )
    SELECT 1::smallint, c.created_xid, c.transaction_id,
           sha256(convert_to(ROW(
               'transaction'::text, c.transaction_id, c.idempotency_key,
               CASE WHEN c.status_changed_at IS NULL THEN c.status ELSE 'pending' END,
               c.effective_at, c.created_at,
               CASE WHEN c.status_changed_at IS NULL THEN c.posted_at END,
               c.reverses_transaction_id, c.reference, c.source_event_id, c.source_event_type, c.batch_id,
               c.content_hash, c.description, c.metadata, c.source, c.created_xid, l.legs)::text, 'UTF8'))
      FROM created c LEFT JOIN legs l USING (transaction_id)
    UNION ALL
    SELECT 2::smallint, t.changed_xid, t.transaction_id,
           sha256(convert_to(ROW(
               'move'::text, t.transaction_id, t.status, t.posted_at, t.archived_at, t.status_changed_at,
               t.transition_key, t.transition_hash, t.changed_xid)::text, 'UTF8'))
      FROM ledger.transactions t
     WHERE t.changed_xid >= p_lo AND t.changed_xid < p_hi AND t.status_changed_at IS NOT NULL
    UNION ALL
    SELECT 3::smallint, a.xid, a.audit_id,
           sha256(convert_to(ROW(
               'audit'::text, a.audit_id, a.at, a.actor, a.action, a.target_type, a.target_id, a.before, a.after,
               a.reason, a.batch_id, a.xid, a.db_user)::text, 'UTF8'))
      FROM ledger.audit_log a
     WHERE a.xid >= p_lo AND a.xid < p_hi
    ORDER BY 1, 2, 3
$$;

REVOKE ALL ON FUNCTION ledger.chain_records(xid8, xid8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.chain_records(xid8, xid8) TO subledger_reader, subledger_writer;
