-- What changed in the ledger after the watermark ($xmin, $xmax, $xip: the Postgres snapshot the
-- old rows were computed from), per batch, account and currency: the first day (the mirror's
-- reporting days, folded into $start) on which it changed the account's balances. A transaction created
-- after the watermark changes them from its effective day (its batch_id); one moved after it,
-- from the day of the move (the batch of the move). "After the watermark" = its xid is not
-- visible in the snapshot (macro xid_visible, sql/warehouse/macros.sql).
CREATE OR REPLACE TEMP TABLE restatement_causes AS
SELECT batch_id, account, currency, min(day) AS first_day
  FROM (
    SELECT t.batch_id, e.account, e.currency, fold_to_start(e.effective_date, $start) AS day
      FROM analytics.transactions t
      JOIN analytics.entries e ON e.transaction_id = t.transaction_id
     WHERE NOT xid_visible(t.created_xid, $xmin, $xmax, $xip)
    UNION ALL
    SELECT t.changed_batch_id, e.account, e.currency,
           fold_to_start(greatest(coalesce(t.posted_date, t.archived_date), e.effective_date), $start)
      FROM analytics.transactions t
      JOIN analytics.entries e ON e.transaction_id = t.transaction_id
     WHERE t.status_changed_at IS NOT NULL AND NOT xid_visible(t.changed_xid, $xmin, $xmax, $xip)
  )
 GROUP BY ALL;
