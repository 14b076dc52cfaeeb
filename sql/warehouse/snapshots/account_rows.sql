-- End-of-day rows for days $d1..$d2 from account_daily: the opening (every change before $d1,
-- one aggregate) plus a running sum over the range (one window). Sums are HUGEINT while added
-- and narrowed to BIGINT at the end (DuckDB raises on overflow instead of wrapping).
CREATE OR REPLACE TEMP TABLE new_account_rows AS
WITH opening AS (
    SELECT account_id, currency, sum(dpd) AS opd, sum(dpc) AS opc, sum(dqd) AS oqd, sum(dqc) AS oqc, sum(dn) AS odn
      FROM account_daily WHERE day < $d1
     GROUP BY account_id, currency
), ranged AS (
    SELECT d.*,
           sum(dpd) OVER w AS cpd, sum(dpc) OVER w AS cpc, sum(dqd) OVER w AS cqd, sum(dqc) OVER w AS cqc,
           sum(dn) OVER w AS cdn
      FROM account_daily d
     WHERE day >= $d1
    WINDOW w AS (PARTITION BY account_id, currency ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), sums AS (
    SELECT r.account_id, r.currency, r.day, a.account, a.normal_balance,
           coalesce(o.opd, 0) + r.cpd AS pd, coalesce(o.opc, 0) + r.cpc AS pc,
           coalesce(o.oqd, 0) + r.cqd AS qd, coalesce(o.oqc, 0) + r.cqc AS qc,
           coalesce(o.odn, 0) + r.cdn AS n,
           r.dpd, r.dpc, r.dqd, r.dqc, r.dn, r.dm
      FROM ranged r
      LEFT JOIN opening o ON o.account_id = r.account_id AND o.currency = r.currency
      JOIN analytics.accounts a ON a.account_id = r.account_id
)
SELECT account, currency, day AS as_of_date, normal_balance,
       CAST(signed_posted(normal_balance, pd, pc, qd, qc) AS BIGINT) AS posted,
       CAST(signed_pending(normal_balance, pd, pc, qd, qc) AS BIGINT) AS pending,
       CAST(signed_available(normal_balance, pd, pc, qd, qc) AS BIGINT) AS available,
       CAST(pd AS BIGINT) AS posted_debits, CAST(pc AS BIGINT) AS posted_credits,
       CAST(qd AS BIGINT) AS pending_debits, CAST(qc AS BIGINT) AS pending_credits,
       CAST(dpd AS BIGINT) AS day_posted_debits, CAST(dpc AS BIGINT) AS day_posted_credits,
       CAST(dqd AS BIGINT) AS day_pending_debits, CAST(dqc AS BIGINT) AS day_pending_credits,
       CAST(dn AS BIGINT) AS day_entry_count,
       CAST(n AS BIGINT) AS entry_count, CAST(dm AS BIGINT) AS day_move_count, account_id
  FROM sums;
