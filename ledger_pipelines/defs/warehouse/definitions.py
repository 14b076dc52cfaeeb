"""The warehouse domain's definitions (merged with the other domains by ledger_pipelines/defs/definitions.py)."""

from __future__ import annotations

import dagster as dg

from ledger_pipelines.defs.warehouse.assets import WAREHOUSE_ASSETS
from ledger_pipelines.defs.warehouse.checks import WAREHOUSE_CHECKS
from ledger_pipelines.defs.warehouse.resources import duckdb_warehouse, ledger_postgres
from ledger_pipelines.defs.warehouse.sensors import warehouse_restatement_sensor

defs = dg.Definitions(
    assets=WAREHOUSE_ASSETS,
    asset_checks=WAREHOUSE_CHECKS,
    sensors=[warehouse_restatement_sensor],
    resources={"duckdb_warehouse": duckdb_warehouse, "ledger_postgres": ledger_postgres},
)
