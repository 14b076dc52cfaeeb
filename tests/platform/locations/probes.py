"""A test-only code location that makes the platform's guarantees observable.

* ``probe/warehouse_a`` and ``probe/warehouse_b`` open a DuckDB file *for writing* (DuckDB takes
  one writer process per file: a second writer fails with a lock error) inside the
  ``duckdb_warehouse`` pool, hold it for ``SUBLEDGER_PROBE_HOLD_SECONDS`` and record when they
  held it. A run tagged ``probe_gate=<path>`` keeps holding until that file exists, so a test
  can look at the pool while a writer is known to hold it.
* ``probe/free_a`` and ``probe/free_b`` do the same without a pool and without DuckDB: they show
  that the multi-process executor really runs steps in parallel.

Intervals go to ``$SUBLEDGER_HOME/probe-intervals.jsonl`` (one JSON object per step execution,
appended with O_APPEND so concurrent processes never interleave lines).
"""

import json
import os
import time
from pathlib import Path

import dagster as dg
import duckdb

from ledger_pipelines.platform.instance import DUCKDB_POOL

OWNERS = ["team:data-platform"]


def _home() -> Path:
    return Path(os.environ["SUBLEDGER_HOME"])


def _hold_seconds() -> float:
    return float(os.environ.get("SUBLEDGER_PROBE_HOLD_SECONDS", "2"))


GATE_TAG = "probe_gate"
GATE_TIMEOUT_SECONDS = 180.0


def _wait_for_gate(context: dg.AssetExecutionContext) -> None:
    """Hold on while the run's gate file (tag ``probe_gate``) does not exist yet."""
    gate = context.run.tags.get(GATE_TAG)
    if not gate:
        return
    deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise dg.Failure(f"the probe gate {gate} was not opened within {GATE_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.1)


def _record(context: dg.AssetExecutionContext, started: float, finished: float, pool: str | None) -> None:
    line = json.dumps(
        {
            "run_id": context.run_id,
            "job": context.job_name,
            "asset": context.asset_key.to_user_string(),
            "pool": pool,
            "pid": os.getpid(),
            "started": started,
            "finished": finished,
        }
    )
    fd = os.open(_home() / "probe-intervals.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _write_warehouse(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    connection = duckdb.connect(str(_home() / "probe-warehouse.duckdb"))  # the single writer
    started = time.time()
    try:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS writes (run_id VARCHAR, asset VARCHAR, pid INTEGER, started DOUBLE, finished DOUBLE)"
        )
        time.sleep(_hold_seconds())
        _wait_for_gate(context)
        finished = time.time()
        connection.execute(
            "INSERT INTO writes VALUES (?, ?, ?, ?, ?)",
            [context.run_id, context.asset_key.to_user_string(), os.getpid(), started, finished],
        )
    finally:
        connection.close()
    _record(context, started, finished, DUCKDB_POOL)
    return dg.MaterializeResult(metadata={"held_seconds": dg.MetadataValue.float(round(finished - started, 3))})


def _sleep(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    started = time.time()
    time.sleep(_hold_seconds())
    _record(context, started, time.time(), None)
    return dg.MaterializeResult()


@dg.asset(key=["probe", "warehouse_a"], pool=DUCKDB_POOL, group_name="probe", kinds={"duckdb"}, owners=OWNERS,
          description="Test probe: writes a DuckDB file inside the duckdb_warehouse pool.")
def warehouse_a(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return _write_warehouse(context)


@dg.asset(key=["probe", "warehouse_b"], pool=DUCKDB_POOL, group_name="probe", kinds={"duckdb"}, owners=OWNERS,
          description="Test probe: writes the same DuckDB file inside the duckdb_warehouse pool.")
def warehouse_b(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return _write_warehouse(context)


@dg.asset(key=["probe", "free_a"], group_name="probe", kinds={"python"}, owners=OWNERS,
          description="Test probe: sleeps without a pool (shows steps running in parallel).")
def free_a(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return _sleep(context)


@dg.asset(key=["probe", "free_b"], group_name="probe", kinds={"python"}, owners=OWNERS,
          description="Test probe: sleeps without a pool (shows steps running in parallel).")
def free_b(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return _sleep(context)


pool_probe_job = dg.define_asset_job(
    "pool_probe", selection=[warehouse_a, warehouse_b], executor_def=dg.multiprocess_executor,
    description="Two DuckDB writers that the multi-process executor would run at once without the pool.",
)
mixed_probe_job = dg.define_asset_job(
    "mixed_probe", selection=[warehouse_a, warehouse_b, free_a, free_b], executor_def=dg.multiprocess_executor,
    description="Two pooled DuckDB writers and two free steps in one multi-process run.",
)


defs = dg.Definitions(assets=[warehouse_a, warehouse_b, free_a, free_b], jobs=[pool_probe_job, mixed_probe_job])
