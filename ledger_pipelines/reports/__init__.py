"""Finance reports: running the dbt project, exporting reports for finance, previews, charts.

No Dagster here: ``ledger_pipelines/defs`` and the CLI call these functions. The reports
themselves are dbt models (``dbt_project/``, docs/reports.md).
"""
