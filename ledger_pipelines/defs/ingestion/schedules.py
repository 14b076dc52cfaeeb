"""The outbox is read on a schedule (it is a table, not a folder to watch)."""

from __future__ import annotations

import dagster as dg

from ledger_pipelines.defs.ingestion.assets import outbox_batches

ingest_outbox_job = dg.define_asset_job(
    "ingest_outbox", selection=[outbox_batches], description="Post the outbox rows committed since the last read."
)

outbox_schedule = dg.ScheduleDefinition(
    name="outbox_every_minute",
    job=ingest_outbox_job,
    cron_schedule="* * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Reads new outbox rows every minute.",
)
