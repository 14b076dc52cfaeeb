"""Unattended freshness: when the published warehouse is behind the ledger or today, one refresh run.

Every evaluation compares what finance reads -- the published warehouse file -- with the ledger
(``ledger_pipelines.warehouse.freshness``): the mirror behind Postgres (transactions created or
moved after its watermark; categories, memberships, account types or accounts changed), snapshots
built from another watermark or not reaching today, reports built from other snapshots. When
something is stale it requests ONE run of ``refresh_warehouse`` (mirror, snapshots, reports,
exports); each asset rebuilds only what is behind, so a backdated file restates its days and a new
day adds one day. Nothing is requested while a refresh run is queued or in progress, and the run
key names the ledger's state and the day: a run that failed (a check found bad data) is not
requested again until the ledger moves or the day turns -- no relaunch storms; the failed run
waits in the UI for a person.
"""

import dagster as dg

from ledger_pipelines.defs.warehouse.automation import REFRESH_JOB_NAME
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse, LedgerPostgres

STALE_TAG = "subledger/stale"
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]


def refresh_in_progress(instance: dg.DagsterInstance) -> str | None:
    """The id of a queued or running refresh run, if any."""
    records = instance.get_run_records(dg.RunsFilter(job_name=REFRESH_JOB_NAME, statuses=IN_PROGRESS), limit=1)
    return records[0].dagster_run.run_id if records else None


@dg.sensor(
    name="warehouse_freshness_sensor",
    job_name=REFRESH_JOB_NAME,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Compares the published warehouse with the ledger and today; when anything is stale (new or backdated "
        "transactions, lifecycle moves, membership changes, a new day), requests one refresh_warehouse run."
    ),
)
def warehouse_freshness_sensor(
    context: dg.SensorEvaluationContext, ledger_postgres: LedgerPostgres, duckdb_warehouse: DuckDBWarehouse
) -> dg.SensorResult | dg.SkipReason:
    from ledger_pipelines.warehouse import freshness
    from ledger_pipelines.warehouse.mirror import read_state
    from ledger_pipelines.warehouse.publish import NothingToPublish

    running = refresh_in_progress(context.instance)
    if running:
        return dg.SkipReason(f"refresh run {running[:8]} is queued or running")
    settings = duckdb_warehouse.settings()
    today = settings.today()
    dsn = ledger_postgres.dsns().reader_dsn
    try:
        reader = duckdb_warehouse.reader()
    except NothingToPublish:
        reader = None
    try:
        state = read_state(reader) if reader is not None else None
        position = freshness.ledger_position(dsn, state.watermark if state else None)
        if reader is None:
            if not position.transactions:
                return dg.SkipReason("the ledger holds no transaction yet: nothing to build")
            stale = ["warehouse: not built yet"]
        else:
            statuses = freshness.assess(reader, tz=settings.timezone, start=settings.start_date, today=today, ledger=position)
            stale = [f"{s.product}: {s.reason}" for s in statuses if not s.fresh]
    finally:
        if reader is not None:
            reader.close()
    if not stale:
        return dg.SkipReason(f"the published warehouse is current through {today}")
    key = (f"refresh:{position.last_change}:{position.changed_since or 0}:{position.fingerprint[:12]}:"
           f"{settings.timezone}:{settings.start_date}:{today}")
    context.log.info("stale: " + " | ".join(stale))
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=key, tags={STALE_TAG: " | ".join(stale)[:4000]})])
