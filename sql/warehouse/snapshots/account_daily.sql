-- Per account, currency and day (the mirror's reporting time zone) through $d2: the change of the four
-- cumulative sums (posted/pending x debits/credits), entries that became effective and entries
-- whose pending transaction moved. One vectorised pass over the mirror, whatever the range.
--
-- An entry's state at the end of day d (docs/architecture.md, "Balance definitions"; macro
-- entry_state on days): not counted before its effective day; from then on posted if its
-- transaction is posted with posted_at on or before d, gone if archived with archived_at on or
-- before d, else pending. So an entry changes
-- the sums at most twice: on its effective day (into its state of that day) and, if it was still
-- pending then, on the day its transaction moved (pending -> posted, or pending -> gone).
-- Days before $start (SUBLEDGER_START_DATE) fold into $start: earlier entries count there. Days are
-- the ones the mirror computed (analytics.entries.effective_date, analytics.transactions.posted_date/archived_date).
CREATE OR REPLACE TEMP TABLE account_daily AS
WITH ent AS (
    SELECT e.account_id, e.currency, e.direction = 'debit' AS is_debit, e.amount,
           fold_to_start(e.effective_date, $start) AS d_eff,
           t.status,
           CASE t.status
                WHEN 'posted' THEN fold_to_start(t.posted_date, $start)
                WHEN 'archived' THEN fold_to_start(t.archived_date, $start)
           END AS d_move,
           entry_state(t.status, d_move, d_move, d_eff) AS state_then
      FROM analytics.entries e
      JOIN analytics.transactions t ON t.transaction_id = e.transaction_id
     WHERE e.effective_date <= $d2
), events AS (
    SELECT account_id, currency, d_eff AS day,
           CASE WHEN state_then = 'posted' AND is_debit THEN amount ELSE 0 END AS pd,
           CASE WHEN state_then = 'posted' AND NOT is_debit THEN amount ELSE 0 END AS pc,
           CASE WHEN state_then = 'pending' AND is_debit THEN amount ELSE 0 END AS qd,
           CASE WHEN state_then = 'pending' AND NOT is_debit THEN amount ELSE 0 END AS qc,
           1 AS n_entries, 0 AS n_moves
      FROM ent
    UNION ALL
    SELECT account_id, currency, d_move AS day,
           CASE WHEN status = 'posted' AND is_debit THEN amount ELSE 0 END,
           CASE WHEN status = 'posted' AND NOT is_debit THEN amount ELSE 0 END,
           CASE WHEN is_debit THEN -amount ELSE 0 END,
           CASE WHEN NOT is_debit THEN -amount ELSE 0 END,
           0, 1
      FROM ent
     WHERE state_then = 'pending' AND d_move <= $d2
)
SELECT account_id, currency, day,
       sum(pd) AS dpd, sum(pc) AS dpc, sum(qd) AS dqd, sum(qc) AS dqc,
       sum(n_entries) AS dn, sum(n_moves) AS dm
  FROM events
 GROUP BY account_id, currency, day;
