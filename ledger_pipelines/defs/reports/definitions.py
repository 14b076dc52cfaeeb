"""The reports domain's definitions: the dbt models and their tests (as asset checks), the exports
for finance, the daily and monthly schedules (merged by ledger_pipelines/defs/definitions.py)."""

import dagster as dg

from ledger_pipelines.defs.reports.assets import REPORT_ASSETS
from ledger_pipelines.defs.reports.project import dbt_cli, reports_dbt_project
from ledger_pipelines.defs.reports.schedules import (
    close_pack_job,
    daily_reports_job,
    daily_reports_schedule,
    monthly_close_pack_schedule,
)
from ledger_pipelines.defs.warehouse.resources import duckdb_warehouse

defs = dg.Definitions(
    assets=REPORT_ASSETS,
    jobs=[daily_reports_job, close_pack_job],
    schedules=[daily_reports_schedule, monthly_close_pack_schedule],
    resources={"dbt": dbt_cli(reports_dbt_project), "duckdb_warehouse": duckdb_warehouse},
)
