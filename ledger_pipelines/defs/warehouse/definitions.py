"""The warehouse domain's definitions (merged with the other domains by ledger_pipelines/defs/definitions.py)."""

from __future__ import annotations

import dagster as dg

from ledger_pipelines.defs.warehouse.assets import MIRROR_KEY, WAREHOUSE_ASSETS
from ledger_pipelines.defs.warehouse.automation import REFRESH_JOB_NAME
from ledger_pipelines.defs.warehouse.checks import WAREHOUSE_CHECKS
from ledger_pipelines.defs.warehouse.resources import duckdb_warehouse, ledger_postgres
from ledger_pipelines.defs.warehouse.sensors import warehouse_freshness_sensor

# The mirror and everything built on it: snapshots, then (merged with the reports domain) the dbt
# reports and their exports. One run rebuilds exactly what is stale.
refresh_warehouse_job = dg.define_asset_job(
    REFRESH_JOB_NAME,
    selection=dg.AssetSelection.assets(MIRROR_KEY).downstream(),
    description="Bring the warehouse, the reports and their exports up to the ledger and today (only what is stale is rebuilt).",
)

defs = dg.Definitions(
    assets=WAREHOUSE_ASSETS,
    asset_checks=WAREHOUSE_CHECKS,
    jobs=[refresh_warehouse_job],
    sensors=[warehouse_freshness_sensor],
    resources={"duckdb_warehouse": duckdb_warehouse, "ledger_postgres": ledger_postgres},
)
