-- The new watermark, committed with the rows it describes.
DELETE FROM warehouse_meta.mirror_state;
INSERT INTO warehouse_meta.mirror_state (snapshot, taken_at, mirrored_at, timezone, runs, ledger_fingerprint)
VALUES ($snapshot, $taken_at, now(), $tz, $runs, $fingerprint)
