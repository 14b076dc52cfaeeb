-- End-of-day category rows for days $d1..$d2: a category's daily change is the sum of its member
-- accounts' (analytics.account_categories: every path prefix, every group and the groups above
-- it), then the same opening + running sum as accounts. Signed by the category's normal balance.
CREATE OR REPLACE TEMP TABLE new_category_rows AS
WITH category_daily AS (
    SELECT ac.category, d.currency, d.day,
           sum(d.dpd) AS dpd, sum(d.dpc) AS dpc, sum(d.dqd) AS dqd, sum(d.dqc) AS dqc, sum(d.dn) AS dn, sum(d.dm) AS dm
      FROM account_daily d
      JOIN analytics.accounts a ON a.account_id = d.account_id
      JOIN analytics.account_categories ac ON ac.account = a.account
     GROUP BY ac.category, d.currency, d.day
), opening AS (
    SELECT category, currency, sum(dpd) AS opd, sum(dpc) AS opc, sum(dqd) AS oqd, sum(dqc) AS oqc, sum(dn) AS odn
      FROM category_daily WHERE day < $d1
     GROUP BY category, currency
), ranged AS (
    SELECT d.*,
           sum(dpd) OVER w AS cpd, sum(dpc) OVER w AS cpc, sum(dqd) OVER w AS cqd, sum(dqc) OVER w AS cqc,
           sum(dn) OVER w AS cdn
      FROM category_daily d
     WHERE day >= $d1
    WINDOW w AS (PARTITION BY category, currency ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), sums AS (
    SELECT r.category, r.currency, r.day, c.normal_balance,
           coalesce(o.opd, 0) + r.cpd AS pd, coalesce(o.opc, 0) + r.cpc AS pc,
           coalesce(o.oqd, 0) + r.cqd AS qd, coalesce(o.oqc, 0) + r.cqc AS qc,
           coalesce(o.odn, 0) + r.cdn AS n,
           r.dpd, r.dpc, r.dqd, r.dqc, r.dn, r.dm
      FROM ranged r
      LEFT JOIN opening o ON o.category = r.category AND o.currency = r.currency
      JOIN analytics.categories c ON c.category = r.category
)
SELECT category, currency, day AS as_of_date, normal_balance,
       CAST(signed_posted(normal_balance, pd, pc, qd, qc) AS BIGINT) AS posted,
       CAST(signed_pending(normal_balance, pd, pc, qd, qc) AS BIGINT) AS pending,
       CAST(signed_available(normal_balance, pd, pc, qd, qc) AS BIGINT) AS available,
       CAST(pd AS BIGINT) AS posted_debits, CAST(pc AS BIGINT) AS posted_credits,
       CAST(qd AS BIGINT) AS pending_debits, CAST(qc AS BIGINT) AS pending_credits,
       CAST(dpd AS BIGINT) AS day_posted_debits, CAST(dpc AS BIGINT) AS day_posted_credits,
       CAST(dqd AS BIGINT) AS day_pending_debits, CAST(dqc AS BIGINT) AS day_pending_credits,
       CAST(dn AS BIGINT) AS day_entry_count,
       CAST(n AS BIGINT) AS entry_count, CAST(dm AS BIGINT) AS day_move_count
  FROM sums;
