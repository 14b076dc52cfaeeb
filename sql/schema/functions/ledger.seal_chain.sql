-- ledger.seal_chain(): appends the next link of the hash chain (I15) and returns the head's
-- link_no. The link seals every record (ledger.chain_records) of the xids from the head's upto_xid
-- to the oldest xid still running (pg_snapshot_xmin of the current snapshot): those transactions
-- have all ended, so their committed rows are all visible here and no later commit can add a row
-- to the range. Rows of transactions still running (the caller's own included) wait for the next
-- seal; none is skipped or sealed twice, whatever order transactions commit in. Nothing new: no
-- link. The first link (genesis) seals everything recorded before it.
--
-- Called after every ingest batch commits (ingest/writer.py, or ingest/ingestor.py while it
-- writes the next batch), by `subledger run` before it mirrors, and by anyone at any time (single
-- postings are sealed by the next call). Links are made one at a time (the table lock queues
-- concurrent sealers, never writers). A seal runs beside the writers: one process, no parallel
-- workers, which on a small server took CPU from the writers for no shorter seal. SECURITY
-- DEFINER: the writer may seal, but has no INSERT on ledger.chain.
CREATE OR REPLACE FUNCTION ledger.seal_chain() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog SET timezone TO 'UTC'
    SET max_parallel_workers_per_gather TO 0 AS $$
DECLARE
    head record;
    lo xid8;
    hi xid8;
    n_transactions integer;
    n_moves integer;
    n_audit integer;
    ids uuid[];
    digests bytea;
    next_no bigint;
    prev bytea;
BEGIN
    LOCK TABLE ledger.chain IN SHARE ROW EXCLUSIVE MODE;
    SELECT c.link_no, c.upto_xid, c.link_hash INTO head FROM ledger.chain c ORDER BY c.link_no DESC LIMIT 1;
    lo := coalesce(head.upto_xid, '0'::xid8);
    hi := pg_snapshot_xmin(pg_current_snapshot());
    IF hi <= lo THEN
        RETURN head.link_no;
    END IF;
    SELECT count(*) FILTER (WHERE r.kind = 1), count(*) FILTER (WHERE r.kind = 2), count(*) FILTER (WHERE r.kind = 3),
           coalesce(array_agg(r.id ORDER BY r.kind, r.xid, r.id), '{}'),
           coalesce(string_agg(r.digest, ''::bytea ORDER BY r.kind, r.xid, r.id), ''::bytea)
      INTO n_transactions, n_moves, n_audit, ids, digests
      FROM ledger.chain_records(lo, hi) r;
    IF head.link_no IS NOT NULL AND n_transactions + n_moves + n_audit = 0 THEN
        RETURN head.link_no;
    END IF;
    next_no := coalesce(head.link_no, 0) + 1;
    prev := coalesce(head.link_hash, decode(repeat('00', 32), 'hex'));
    INSERT INTO ledger.chain (link_no, from_xid, upto_xid, transactions, moves, audit_rows, record_ids, record_digests,
                              prev_hash, link_hash)
    VALUES (next_no, lo, hi, n_transactions, n_moves, n_audit, ids, digests, prev,
            ledger.chain_link_hash(prev, next_no, lo, hi, n_transactions, n_moves, n_audit, digests));
    RETURN next_no;
END
$$;

REVOKE ALL ON FUNCTION ledger.seal_chain() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.seal_chain() TO subledger_writer;
