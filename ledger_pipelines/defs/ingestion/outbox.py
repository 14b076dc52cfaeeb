"""The outbox is read when it holds something: a sensor, not a run every minute.

The sensor counts the outbox rows a read would take now (``sql/ingest/outbox_pending.sql``: rows
committed after the last outbox batch's window) and requests one run of ``ingest_outbox`` only
when there are some; the run key is the window's start, so one window is requested once.
"""

import dagster as dg

from ledger_pipelines.defs.ingestion.assets import outbox_batches
from ledger_pipelines.defs.warehouse.resources import LedgerPostgres

ingest_outbox_job = dg.define_asset_job(
    "ingest_outbox", selection=[outbox_batches], description="Post the outbox rows committed since the last read."
)


def pending_outbox_rows(dsn: str) -> tuple[int, str]:
    """``(rows, window start)``: how many outbox rows a read would post now, and where its window starts."""
    import psycopg

    from ledger_pipelines.paths import read_sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows, low = conn.execute(read_sql("ingest/outbox_pending.sql")).fetchone()
    return int(rows), str(low)


@dg.sensor(
    name="outbox_sensor",
    job=ingest_outbox_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests an outbox run when ingest.outbox holds rows committed since the last outbox batch; skips otherwise.",
)
def outbox_sensor(context: dg.SensorEvaluationContext, ledger_postgres: LedgerPostgres) -> dg.SensorResult | dg.SkipReason:
    pending, low = pending_outbox_rows(ledger_postgres.dsns().reader_dsn)
    if not pending:
        return dg.SkipReason("the outbox holds no row since the last read")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"outbox-from-{low}", tags={"subledger/outbox_rows": str(pending)})])
