-- The head of the hash chain (its last link), and how many transactions and lifecycle moves are
-- recorded after it (not sealed yet: the next ledger.seal_chain() seals them).
SELECT c.link_no, encode(c.link_hash, 'hex') AS link_hash, c.upto_xid::text AS upto_xid, c.sealed_at,
       (SELECT count(*) FROM ledger.transactions t WHERE t.changed_xid >= c.upto_xid) AS unsealed_transactions,
       (SELECT sum(l.transactions) FROM ledger.chain l) AS sealed_transactions
  FROM ledger.chain c
 ORDER BY c.link_no DESC
 LIMIT 1
