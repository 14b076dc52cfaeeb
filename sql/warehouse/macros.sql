-- DuckDB macros of the warehouse: the one SQL definition of rules several queries need.
-- Created (or replaced) every time the work file is opened; they travel with the published file.

-- Whether a row written by Postgres transaction `xid` was visible in the snapshot
-- xmin:xmax:xip (docs/warehouse.md, "Mirror and watermark"): committed before the snapshot.
CREATE OR REPLACE MACRO xid_visible(xid, snap_xmin, snap_xmax, snap_xip) AS
    xid < snap_xmin OR (xid < snap_xmax AND NOT list_contains(CAST(snap_xip AS UBIGINT[]), xid));
