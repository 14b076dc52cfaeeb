"""The reports domain in Dagster: dbt report models and tests, exports for finance, schedules."""
