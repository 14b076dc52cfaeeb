-- Days $d1..$d2 of $scope are now computed from the mirror at $snapshot (rows or not), and the
-- settings they depend on.
DELETE FROM warehouse_meta.snapshot_days WHERE scope = $scope AND as_of_date BETWEEN $d1 AND $d2;
INSERT INTO warehouse_meta.snapshot_days (scope, as_of_date, snapshot, run_id, computed_at)
SELECT $scope, CAST(d AS DATE), $snapshot, $run_id, now()
  FROM generate_series(CAST($d1 AS DATE), CAST($d2 AS DATE), INTERVAL 1 DAY) AS g(d);
DELETE FROM warehouse_meta.snapshot_settings WHERE scope = $scope;
INSERT INTO warehouse_meta.snapshot_settings (scope, timezone, start_date, membership_hash)
VALUES ($scope, $tz, $start, $fingerprint);
