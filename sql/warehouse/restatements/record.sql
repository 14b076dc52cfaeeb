-- One analytics.restatements row per restated row ($scope: 'account' or 'category'; a category is
-- caused by what changed any of its member accounts). batch_ids lists every batch that changed the
-- key on or before that day; batch_id is the one whose change took effect first. A change no
-- recorded batch explains (e.g. a category membership change) has batch_id NULL and no batch_ids.
INSERT INTO analytics.restatements
WITH causes AS (
    SELECT c.batch_id, {cause_key} AS key, c.currency, min(c.first_day) AS first_day
      FROM restatement_causes c
      {cause_join}
     WHERE c.batch_id IS NOT NULL
     GROUP BY ALL
), attributed AS (
    SELECT r.key, r.currency, r.as_of_date,
           arg_min(c.batch_id, (c.first_day, c.batch_id)) AS batch_id,
           list(DISTINCT c.batch_id ORDER BY c.batch_id) FILTER (WHERE c.batch_id IS NOT NULL) AS batch_ids
      FROM restated_rows r
      LEFT JOIN causes c ON c.key = r.key AND c.currency = r.currency AND c.first_day <= r.as_of_date
     GROUP BY r.key, r.currency, r.as_of_date
)
SELECT a.batch_id, $scope, r.key, r.currency, r.as_of_date, r.old_posted, r.new_posted, r.old_pending, r.new_pending,
       r.old_available, r.new_available, $restated_at::TIMESTAMPTZ, $run_id, coalesce(a.batch_ids, [])
  FROM restated_rows r
  JOIN attributed a ON a.key = r.key AND a.currency = r.currency AND a.as_of_date = r.as_of_date;
