"""The ingestion domain's definitions."""

from __future__ import annotations

import dagster as dg

from ledger_pipelines.defs.ingestion.assets import landing_files, outbox_batches, outbox_table, posted_batches
from ledger_pipelines.defs.ingestion.outbox import ingest_outbox_job, outbox_lag, outbox_sensor
from ledger_pipelines.defs.ingestion.sensors import ingest_landed_files_job, landing_folder_sensor
from ledger_pipelines.defs.settings_resource import SubledgerSettings
from ledger_pipelines.defs.warehouse.resources import ledger_postgres

defs = dg.Definitions(
    assets=[landing_files, outbox_table, posted_batches, outbox_batches],
    asset_checks=[outbox_lag],
    jobs=[ingest_landed_files_job, ingest_outbox_job],
    sensors=[landing_folder_sensor, outbox_sensor],
    resources={"subledger": SubledgerSettings(), "ledger_postgres": ledger_postgres},
)
