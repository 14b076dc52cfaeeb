"""Automatic restatement: when ingestion posts into days whose snapshots exist, rebuild them.

Ingestion records, per batch, the reporting-time-zone days it touched
(``ingest.batches.effective_dates``, set when the batch completes). This sensor polls that table
with a cursor; for new batches it asks the published warehouse which computed days are affected
(:func:`ledger_pipelines.warehouse.restatements.affected_days`: balances are cumulative, so a
change on day d changes every computed day from d on) and requests ONE run over exactly that
partition range -- the mirror first, then the account and category snapshots. The snapshot
computation records old and new balances and the causing batches in ``analytics.restatements``;
report assets downstream follow through ``AFTER_UPSTREAM_CHECKS_PASS``.
"""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg

from ledger_pipelines.defs.warehouse.assets import ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY, MIRROR_KEY
from ledger_pipelines.defs.warehouse.partitions import range_tags
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse, LedgerPostgres
from ledger_pipelines.paths import read_sql
from ledger_pipelines.warehouse.publish import NothingToPublish
from ledger_pipelines.warehouse.restatements import affected_days

# completed_at is clock_timestamp() a moment before the batch commits: a batch may become
# visible after a later-completed one. Re-reading this far back (and remembering what was seen)
# makes sure none is skipped.
LOOKBACK = timedelta(minutes=10)
BATCHES_PER_TICK = 1000
RESTATEMENT_TAG = "subledger/restatement_batches"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def load_cursor(text: str | None) -> tuple[datetime, set[str]]:
    if not text:
        return EPOCH, set()
    data = json.loads(text)
    return datetime.fromisoformat(data["completed_at"]), set(data.get("seen", []))


def dump_cursor(high: datetime, seen: dict[str, datetime]) -> str:
    keep = sorted(batch for batch, at in seen.items() if at >= high - LOOKBACK)
    return json.dumps({"completed_at": high.isoformat(), "seen": keep})


@dg.sensor(
    name="warehouse_restatement_sensor",
    target=[MIRROR_KEY, ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Polls ingest.batches; when a batch touched days whose snapshots exist, requests one run that re-mirrors and "
        "re-materialises exactly those snapshot partitions (restatements recorded in analytics.restatements)."
    ),
)
def warehouse_restatement_sensor(
    context: dg.SensorEvaluationContext, ledger_postgres: LedgerPostgres, duckdb_warehouse: DuckDBWarehouse
) -> dg.SensorResult:
    high, seen_before = load_cursor(context.cursor)
    with psycopg.connect(ledger_postgres.dsns().reader_dsn) as conn:
        rows = conn.execute(
            read_sql("warehouse/restatements/pg_batches.sql"), {"since": high - LOOKBACK, "limit": BATCHES_PER_TICK}
        ).fetchall()
    new = [(batch_id, at, dates) for batch_id, at, dates in rows if batch_id not in seen_before]
    seen = {batch_id: at for batch_id, at, _ in rows}
    new_high = max([high, *(at for _, at, _ in rows)])
    cursor = dump_cursor(new_high, {**{b: new_high for b in seen_before}, **seen})
    if not new:
        return dg.SensorResult(cursor=cursor)
    touched = sorted({day for _, _, dates in new for day in dates})
    try:
        reader = duckdb_warehouse.reader()
    except NothingToPublish:
        return dg.SensorResult(cursor=cursor, skip_reason="no warehouse yet: nothing to restate")
    try:
        days = affected_days(reader, touched)
    finally:
        reader.close()
    if not days:
        return dg.SensorResult(cursor=cursor, skip_reason=f"{len(new)} batch(es) touched no computed day")
    batch_ids = sorted(batch_id for batch_id, _, _ in new)
    digest = hashlib.sha256(",".join(batch_ids).encode()).hexdigest()[:16]
    context.log.info(f"{len(new)} batch(es) touched {touched[0]}..{touched[-1]}: restating {days[0]}..{days[-1]}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(
            run_key=f"restate-{days[0]}-{days[-1]}-{digest}",
            asset_selection=[MIRROR_KEY, ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY],
            tags={**range_tags(days[0], days[-1]), RESTATEMENT_TAG: ",".join(batch_ids)[:4000]},
        )],
        cursor=cursor,
    )
