"""The outbox in Dagster: a sensor that drains it only when no worker does, and a lag check.

The outbox is a queue (:mod:`ledger_pipelines.service.queue`). With ``subledger workers`` running,
they post it continuously and the sensor only watches: it skips, and warns in its log when the
oldest waiting event is older than ``SUBLEDGER_QUEUE_LAG_WARN_SECONDS``. Without workers, the
sensor requests one run of ``ingest_outbox`` when rows wait (the run key is the oldest waiting
row, so it is requested once); that run is a consumer that drains once, claiming rows exactly
as the workers do, so both together never post a row twice. The asset check
``outbox_lag`` runs after every drain and warns past the same threshold.
"""

from dataclasses import dataclass

import dagster as dg

from ledger_pipelines.defs.ingestion.assets import outbox_batches
from ledger_pipelines.defs.warehouse.resources import LedgerPostgres

ingest_outbox_job = dg.define_asset_job(
    "ingest_outbox", selection=[outbox_batches],
    description="Post the outbox rows waiting now (one consumer, claimed like the workers claim them).",
)


@dataclass(frozen=True)
class OutboxWaiting:
    rows: int
    oldest_id: int | None
    oldest_age_seconds: float
    workers: int


def outbox_waiting(dsn: str) -> OutboxWaiting:
    """The waiting rows, the oldest one's id and age, and the workers connected (reader role)."""
    import psycopg

    from ledger_pipelines.paths import read_sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows, oldest, age, workers = conn.execute(read_sql("service/outbox_waiting.sql")).fetchone()
    return OutboxWaiting(int(rows), oldest, float(age), int(workers))


def lag_warn_seconds() -> float:
    """``SUBLEDGER_QUEUE_LAG_WARN_SECONDS`` of the process that evaluates the sensor or check."""
    from ledger_pipelines.config import load_settings
    from ledger_pipelines.service.settings import load_service_settings

    return load_service_settings(load_settings()).lag_warn_seconds


def pending_outbox_rows(dsn: str) -> tuple[int, str]:
    """``(rows, oldest waiting id)``: how many outbox rows a drain would post now (``subledger run``)."""
    waiting = outbox_waiting(dsn)
    return waiting.rows, str(waiting.oldest_id)


@dg.sensor(
    name="outbox_sensor",
    job=ingest_outbox_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Drains ingest.outbox when rows wait and no worker is connected; warns when the oldest waiting event "
                "is older than SUBLEDGER_QUEUE_LAG_WARN_SECONDS.",
)
def outbox_sensor(context: dg.SensorEvaluationContext, ledger_postgres: LedgerPostgres) -> dg.SensorResult | dg.SkipReason:
    waiting = outbox_waiting(ledger_postgres.dsns().reader_dsn)
    threshold = lag_warn_seconds()
    if waiting.rows and waiting.oldest_age_seconds > threshold:
        context.log.warning(f"the oldest of {waiting.rows} waiting outbox events is {waiting.oldest_age_seconds:.0f} s old "
                            f"(more than SUBLEDGER_QUEUE_LAG_WARN_SECONDS={threshold:g}); "
                            + ("add workers (subledger workers -n N)" if waiting.workers else "start workers or check the runs"))
    if not waiting.rows:
        return dg.SkipReason("the outbox holds no waiting row")
    if waiting.workers:
        return dg.SkipReason(f"{waiting.rows} waiting row(s) are being posted by {waiting.workers} worker(s)")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"outbox-from-{waiting.oldest_id}",
                                                       tags={"subledger/outbox_rows": str(waiting.rows)})])


@dg.asset_check(asset=outbox_batches, name="outbox_lag",
                description="Warns when the oldest event still waiting in the outbox is older than "
                            "SUBLEDGER_QUEUE_LAG_WARN_SECONDS (default 60).")
def outbox_lag(ledger_postgres: LedgerPostgres) -> dg.AssetCheckResult:
    waiting = outbox_waiting(ledger_postgres.dsns().reader_dsn)
    threshold = lag_warn_seconds()
    return dg.AssetCheckResult(
        passed=waiting.oldest_age_seconds <= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"{waiting.rows} event(s) waiting; the oldest for {waiting.oldest_age_seconds:.1f} s "
                     f"(threshold {threshold:g} s); {waiting.workers} worker(s) connected"),
        metadata={"waiting": dg.MetadataValue.int(waiting.rows),
                  "oldest_age_seconds": dg.MetadataValue.float(round(waiting.oldest_age_seconds, 3)),
                  "workers": dg.MetadataValue.int(waiting.workers),
                  "threshold_seconds": dg.MetadataValue.float(threshold)},
    )
