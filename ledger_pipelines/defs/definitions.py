"""The code location: every domain's definitions, merged (``workspace.yaml`` loads ``defs``).

One line per domain. Domains must share resource *instances* (``Definitions.merge`` rejects two
different objects under one key), so a domain defines its resources once and reuses them.

Every job runs its steps in the run worker's own process (``in_process_executor``): the steps
share the DuckDB work file one at a time anyway (pool ``duckdb_warehouse``), and a process per
step would only multiply Python start-ups on a busy machine.
"""

from __future__ import annotations

import dagster as dg

from ledger_pipelines.defs.ingestion.definitions import defs as ingestion_defs
from ledger_pipelines.defs.reports.definitions import defs as reports_defs
from ledger_pipelines.defs.warehouse.assets import MIRROR_KEY, OUTBOX_BATCHES
from ledger_pipelines.defs.warehouse.definitions import defs as warehouse_defs
from ledger_pipelines.logging import install_secret_scrubber

# Every process that loads the code location (code server, run workers, `subledger run`) scrubs
# passwords from log records before Dagster's event log or any handler sees them.
install_secret_scrubber()

# What `subledger run` materialises after the landed files: the outbox, then the warehouse and
# the reports (only what is stale; ledger_pipelines/defs/runner.py). Named, so the UI lists the
# command's runs under it.
subledger_run_job = dg.define_asset_job(
    "subledger_run",
    selection=dg.AssetSelection.assets(OUTBOX_BATCHES) | dg.AssetSelection.assets(MIRROR_KEY).downstream(),
    description="What `subledger run` materialises after the landed files: the outbox, the warehouse, the reports.",
)

defs = dg.Definitions.merge(
    ingestion_defs,
    warehouse_defs,
    reports_defs,
    dg.Definitions(jobs=[subledger_run_job], executor=dg.in_process_executor),
)
