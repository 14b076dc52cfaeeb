"""Named pools and automation conditions of the warehouse domain (reused by its assets; report
assets downstream should reuse ``AFTER_UPSTREAM_CHECKS_PASS`` so that an ERROR check on the
warehouse blocks them across runs, not only inside one run)."""

from __future__ import annotations

import dagster as dg

# DuckDB allows one writer process per file: every asset or check that opens the work file runs
# in this pool (limit it to 1: `dagster instance concurrency set duckdb_warehouse 1`); the
# resource's file lock enforces the same for runs outside Dagster (`subledger run`).
WAREHOUSE_POOL = "duckdb_warehouse"

# Materialise when an upstream asset updated -- but only once the upstream's blocking checks
# passed, so bad data never flows on.
AFTER_UPSTREAM_CHECKS_PASS = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("after_upstream_checks_pass")
