"""Warehouse assets: the ledger mirror, daily account snapshots (+ Postgres anchors), daily
category aggregates. Restating a day = re-materialising its partition (see sensors.py)."""

import dagster as dg

from ledger_pipelines.defs.warehouse.automation import AFTER_UPSTREAM_CHECKS_PASS, WAREHOUSE_POOL
from ledger_pipelines.defs.warehouse.partitions import SINGLE_RUN_BACKFILL, daily_snapshot_partitions, partition_days
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse, LedgerPostgres
from ledger_pipelines.warehouse import snapshots
from ledger_pipelines.warehouse.mirror import MirrorResult, mirror

WAREHOUSE_GROUP = "warehouse"
WAREHOUSE_OWNERS = ["team:data-platform"]

# The ingestion assets (ledger domain) that post batches. Depended on by key only: in this
# domain's own Definitions they appear as external stubs; merged with the ingestion domain they
# are the real assets, and the lineage is complete.
POSTED_BATCHES = dg.AssetKey(["ledger", "posted_batches"])
OUTBOX_BATCHES = dg.AssetKey(["ledger", "outbox_batches"])

MIRROR_KEY = dg.AssetKey(["warehouse", "ledger_mirror"])
ACCOUNT_SNAPSHOTS_KEY = dg.AssetKey(["warehouse", "account_balance_snapshots"])
CATEGORY_SNAPSHOTS_KEY = dg.AssetKey(["warehouse", "category_balance_snapshots"])


def mirror_metadata(result: MirrorResult, published_bytes: int) -> dict[str, dg.MetadataValue]:
    return {
        "dagster/row_count": dg.MetadataValue.int(result.total_entries),
        "mode": dg.MetadataValue.text("full" if result.full else "incremental"),
        "transactions written": dg.MetadataValue.int(result.transactions),
        "entries written": dg.MetadataValue.int(result.entries),
        "accounts": dg.MetadataValue.int(result.accounts),
        "categories": dg.MetadataValue.int(result.categories),
        "account-category memberships": dg.MetadataValue.int(result.account_categories),
        "transactions in warehouse": dg.MetadataValue.int(result.total_transactions),
        "entries in warehouse": dg.MetadataValue.int(result.total_entries),
        "lag seconds (age of the mirrored snapshot)": dg.MetadataValue.float(round(result.lag_seconds, 3)),
        "transactions behind Postgres": dg.MetadataValue.int(result.behind_transactions),
        "watermark (pg snapshot)": dg.MetadataValue.text(result.watermark.text),
        "snapshot taken at": dg.MetadataValue.timestamp(result.taken_at),
        "rows/s": dg.MetadataValue.float(round(result.rows_per_second, 1)),
        "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "published bytes": dg.MetadataValue.int(published_bytes),
    }


def snapshot_metadata(result: snapshots.SnapshotResult, published_bytes: int) -> dict[str, dg.MetadataValue]:
    return {
        "dagster/row_count": dg.MetadataValue.int(result.rows),
        "first day": dg.MetadataValue.text(str(result.first_day)),
        "last day": dg.MetadataValue.text(str(result.last_day)),
        "restated rows": dg.MetadataValue.int(result.restated),
        "full rebuild (settings changed)": dg.MetadataValue.bool(result.full_rebuild),
        "anchors written": dg.MetadataValue.int(result.anchors or 0),
        "watermark (pg snapshot)": dg.MetadataValue.text(result.watermark.text if result.watermark else "-"),
        "run id": dg.MetadataValue.text(result.run_id),
        "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "published bytes": dg.MetadataValue.int(published_bytes),
    }


@dg.asset(
    key=MIRROR_KEY,
    deps=[POSTED_BATCHES, OUTBOX_BATCHES],
    group_name=WAREHOUSE_GROUP,
    kinds={"duckdb", "postgres"},
    owners=WAREHOUSE_OWNERS,
    pool=WAREHOUSE_POOL,
    automation_condition=AFTER_UPSTREAM_CHECKS_PASS,
    description=(
        "The ledger (accounts, categories and memberships, transactions with their lifecycle, entries) mirrored "
        "into DuckDB analytics.* through Arrow, incrementally from the previous Postgres snapshot (watermark)."
    ),
)
def ledger_mirror(
    context: dg.AssetExecutionContext, duckdb_warehouse: DuckDBWarehouse, ledger_postgres: LedgerPostgres
) -> dg.MaterializeResult:
    settings = duckdb_warehouse.settings()
    with duckdb_warehouse.writer() as conn:
        result = mirror(conn, ledger_postgres.dsns().reader_dsn, settings.timezone)
    published = duckdb_warehouse.publish()
    context.log.info(
        f"mirrored {result.transactions} transactions, {result.entries} entries ({'full' if result.full else 'incremental'}) "
        f"at {result.rows_per_second:,.0f} rows/s; watermark {result.watermark.text}"
    )
    return dg.MaterializeResult(metadata=mirror_metadata(result, published.bytes))


@dg.asset(
    key=ACCOUNT_SNAPSHOTS_KEY,
    deps=[MIRROR_KEY],
    partitions_def=daily_snapshot_partitions,
    backfill_policy=SINGLE_RUN_BACKFILL,
    group_name=WAREHOUSE_GROUP,
    kinds={"duckdb", "postgres"},
    owners=WAREHOUSE_OWNERS,
    pool=WAREHOUSE_POOL,
    automation_condition=AFTER_UPSTREAM_CHECKS_PASS,
    description=(
        "analytics.account_balance_snapshots: per account, currency and day (reporting time zone) the day's movements "
        "and the end-of-day posted/pending/available balances; also writes the Postgres balance anchors. "
        "Re-materialising computed days records what changed in analytics.restatements."
    ),
)
def account_balance_snapshots(
    context: dg.AssetExecutionContext, duckdb_warehouse: DuckDBWarehouse, ledger_postgres: LedgerPostgres
) -> dg.MaterializeResult:
    settings = duckdb_warehouse.settings()
    first, last = partition_days(context)
    with duckdb_warehouse.writer() as conn:
        result = snapshots.compute_accounts(
            conn, first, last, tz=settings.timezone, start=settings.start_date, writer_dsn=ledger_postgres.dsns().writer_dsn
        )
    published = duckdb_warehouse.publish()
    context.log.info(f"account snapshots {first}..{last}: {result.rows} rows, {result.restated} restated, {result.anchors} anchors")
    return dg.MaterializeResult(metadata=snapshot_metadata(result, published.bytes))


@dg.asset(
    key=CATEGORY_SNAPSHOTS_KEY,
    deps=[ACCOUNT_SNAPSHOTS_KEY],
    partitions_def=daily_snapshot_partitions,
    backfill_policy=SINGLE_RUN_BACKFILL,
    group_name=WAREHOUSE_GROUP,
    kinds={"duckdb"},
    owners=WAREHOUSE_OWNERS,
    pool=WAREHOUSE_POOL,
    automation_condition=AFTER_UPSTREAM_CHECKS_PASS,
    description=(
        "analytics.category_balance_snapshots: the same per category (every path prefix of an account code and every "
        "configured group, nested) and day."
    ),
)
def category_balance_snapshots(
    context: dg.AssetExecutionContext, duckdb_warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    settings = duckdb_warehouse.settings()
    first, last = partition_days(context)
    with duckdb_warehouse.writer() as conn:
        result = snapshots.compute_categories(conn, first, last, tz=settings.timezone, start=settings.start_date)
    published = duckdb_warehouse.publish()
    context.log.info(f"category snapshots {first}..{last}: {result.rows} rows, {result.restated} restated")
    return dg.MaterializeResult(metadata=snapshot_metadata(result, published.bytes))


WAREHOUSE_ASSETS = [ledger_mirror, account_balance_snapshots, category_balance_snapshots]
