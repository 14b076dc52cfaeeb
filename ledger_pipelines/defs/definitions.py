"""The code location: every domain's definitions, merged (``workspace.yaml`` loads ``defs``).

One line per domain. Domains must share resource *instances* (``Definitions.merge`` rejects two
different objects under one key), so a domain defines its resources once and reuses them.
"""

from __future__ import annotations

import dagster as dg

from ledger_pipelines.defs.ingestion.definitions import defs as ingestion_defs
from ledger_pipelines.defs.reports.definitions import defs as reports_defs
from ledger_pipelines.defs.warehouse.definitions import defs as warehouse_defs
from ledger_pipelines.logging import install_secret_scrubber

# Every process that loads the code location (code server, run workers, `subledger run`) scrubs
# passwords from log records before Dagster's event log or any handler sees them.
install_secret_scrubber()

defs = dg.Definitions.merge(
    ingestion_defs,
    warehouse_defs,
    reports_defs,
)
