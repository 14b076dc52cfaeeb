-- One analytics.restatements row per restated row and batch that caused it ($scope: 'account' or
-- 'category'; a category is caused by what changed any of its member accounts). A change no
-- recorded batch explains (e.g. a category membership change) is recorded with batch_id NULL.
INSERT INTO analytics.restatements
WITH causes AS (
    SELECT c.batch_id, {cause_key} AS key, c.currency, min(c.first_day) AS first_day
      FROM restatement_causes c
      {cause_join}
     GROUP BY ALL
), attributed AS (
    SELECT r.*, c.batch_id
      FROM restated_rows r
      LEFT JOIN causes c ON c.key = r.key AND c.currency = r.currency AND c.first_day <= r.as_of_date
     WHERE r.snapshot = $snapshot
)
SELECT DISTINCT batch_id, $scope, key, currency, as_of_date, old_posted, new_posted, old_pending, new_pending,
       old_available, new_available, $restated_at::TIMESTAMPTZ, $run_id
  FROM attributed;
