-- Rows of {table} that the recomputation (temp table {new_rows}, days from $d1) changes on days
-- that had been reported before ($d1..$d2, $d2 being the last day the previous build covered): per
-- key, currency and day where either version has a row, the balance in force (the latest row on or
-- before the day -- the contract's reading of a day without a row) before and after. Only
-- differences are kept.
CREATE OR REPLACE TEMP TABLE restated_rows AS
WITH old AS (
    SELECT {key} AS key, currency, as_of_date, posted, pending, available FROM {table} WHERE as_of_date <= $d2
), new AS (
    SELECT {key} AS key, currency, as_of_date, posted, pending, available FROM {new_rows} WHERE as_of_date <= $d2
    UNION ALL
    SELECT key, currency, as_of_date, posted, pending, available FROM old WHERE as_of_date < $d1
), points AS (
    SELECT DISTINCT key, currency, as_of_date
      FROM (SELECT key, currency, as_of_date FROM new WHERE as_of_date >= $d1
            UNION ALL
            SELECT key, currency, as_of_date FROM old WHERE as_of_date >= $d1)
), with_old AS (
    SELECT p.*, o.posted AS old_posted, o.pending AS old_pending, o.available AS old_available
      FROM points p ASOF LEFT JOIN old o
        ON o.key = p.key AND o.currency = p.currency AND p.as_of_date >= o.as_of_date
), both_versions AS (
    SELECT w.*, n.posted AS new_posted, n.pending AS new_pending, n.available AS new_available
      FROM with_old w ASOF LEFT JOIN new n
        ON n.key = w.key AND n.currency = w.currency AND w.as_of_date >= n.as_of_date
)
SELECT key, currency, as_of_date,
       coalesce(old_posted, 0) AS old_posted, coalesce(new_posted, 0) AS new_posted,
       coalesce(old_pending, 0) AS old_pending, coalesce(new_pending, 0) AS new_pending,
       coalesce(old_available, 0) AS old_available, coalesce(new_available, 0) AS new_available
  FROM both_versions
 WHERE (coalesce(old_posted, 0), coalesce(old_pending, 0), coalesce(old_available, 0))
       IS DISTINCT FROM (coalesce(new_posted, 0), coalesce(new_pending, 0), coalesce(new_available, 0));
