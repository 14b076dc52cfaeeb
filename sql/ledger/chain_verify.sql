-- The hash chain recomputed from the ledger's rows (I15), one row per link from %(first)s on:
--   linked          the link follows the one before it (number, xid range, prev_hash = its link_hash;
--                   the first link's prev_hash is 32 zero bytes);
--   self_consistent link_hash = ledger.chain_link_hash of what the link stores;
--   rows_match      the records the rows give today (ledger.chain_records of the link's range: ids,
--                   digests, counts per kind) are the ones sealed.
-- The records of every checked link are computed in one pass and each is given to the link whose
-- range holds its xid (links cover contiguous ranges), so checking N links reads each row once.
WITH bounds AS (
    SELECT min(from_xid) AS lo, max(upto_xid) AS hi FROM ledger.chain WHERE link_no >= %(first)s
), records AS (
    SELECT l.link_no, r.kind, r.xid, r.id, r.digest
      FROM bounds b
     CROSS JOIN LATERAL ledger.chain_records(b.lo, b.hi) r
     CROSS JOIN LATERAL (SELECT c.link_no FROM ledger.chain c WHERE c.from_xid <= r.xid
                          ORDER BY c.from_xid DESC LIMIT 1) l
), recomputed AS (
    SELECT link_no,
           count(*) FILTER (WHERE kind = 1)::integer AS transactions,
           count(*) FILTER (WHERE kind = 2)::integer AS moves,
           count(*) FILTER (WHERE kind = 3)::integer AS audit_rows,
           array_agg(id ORDER BY kind, xid, id) AS record_ids,
           string_agg(digest, ''::bytea ORDER BY kind, xid, id) AS record_digests
      FROM records GROUP BY link_no
), links AS (
    SELECT c.*, lag(c.link_no) OVER w AS prev_no, lag(c.upto_xid) OVER w AS prev_upto,
           lag(c.link_hash) OVER w AS prev_link_hash
      FROM ledger.chain c
     WHERE c.link_no >= %(first)s - 1
    WINDOW w AS (ORDER BY c.link_no)
)
SELECT l.link_no,
       l.link_no = coalesce(l.prev_no + 1, 1)
           AND l.prev_hash = coalesce(l.prev_link_hash, decode(repeat('00', 32), 'hex'))
           AND l.from_xid = coalesce(l.prev_upto, '0'::xid8) AS linked,
       l.link_hash = ledger.chain_link_hash(l.prev_hash, l.link_no, l.from_xid, l.upto_xid, l.transactions, l.moves,
                                            l.audit_rows, l.record_digests) AS self_consistent,
       (l.transactions, l.moves, l.audit_rows, l.record_ids, l.record_digests)
           IS NOT DISTINCT FROM (coalesce(r.transactions, 0), coalesce(r.moves, 0), coalesce(r.audit_rows, 0),
                                 coalesce(r.record_ids, '{}'), coalesce(r.record_digests, ''::bytea)) AS rows_match,
       l.transactions + l.moves + l.audit_rows AS records
  FROM links l
  LEFT JOIN recomputed r USING (link_no)
 WHERE l.link_no >= %(first)s
 ORDER BY l.link_no
