"""Named pools and the one automation mechanism of the warehouse and reports.

The warehouse is kept current by one sensor (``warehouse_freshness_sensor``, sensors.py), not by
eager automation conditions: it asks what is stale (``ledger_pipelines.warehouse.freshness``) and
requests ONE run of :data:`REFRESH_JOB_NAME`, which rebuilds exactly what is behind. A run per
upstream update would queue a run per ingested file; a run per day partition would cost
bookkeeping per calendar day.
"""

from __future__ import annotations

# DuckDB allows one writer process per file: every asset or check that opens the work file runs
# in this pool (limit 1, pinned on the instance by ledger_pipelines.platform.instance); the work
# file's lock enforces the same for processes outside Dagster.
WAREHOUSE_POOL = "duckdb_warehouse"

# The job that refreshes the mirror, the snapshots, the reports and their exports (groups
# 'warehouse' and 'reports'); defined in ledger_pipelines/defs/definitions.py.
REFRESH_JOB_NAME = "refresh_warehouse"
