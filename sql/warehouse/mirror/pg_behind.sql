-- How many transactions were created or moved after the watermark (the mirror's lag in rows).
SELECT count(*) FROM ledger.transactions t
 WHERE t.changed_xid >= pg_snapshot_xmin(%(snapshot)s::pg_snapshot)
   AND NOT pg_visible_in_snapshot(t.changed_xid, %(snapshot)s::pg_snapshot)
