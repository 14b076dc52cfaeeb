"""The reports domain's definitions: the dbt models and their tests (as asset checks), the exports
for finance, the monthly close pack schedule (merged by ledger_pipelines/defs/definitions.py)."""

import dagster as dg

from ledger_pipelines.defs.reports.assets import REPORT_ASSETS
from ledger_pipelines.defs.reports.project import dbt_cli, reports_dbt_project
from ledger_pipelines.defs.reports.schedules import close_pack_job, monthly_close_pack_schedule
from ledger_pipelines.defs.warehouse.resources import duckdb_warehouse

defs = dg.Definitions(
    assets=REPORT_ASSETS,
    jobs=[close_pack_job],
    schedules=[monthly_close_pack_schedule],
    resources={"dbt": dbt_cli(reports_dbt_project), "duckdb_warehouse": duckdb_warehouse},
)
