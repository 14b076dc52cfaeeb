"""Warehouse assets: the ledger mirror, the daily account snapshots (+ Postgres anchors), the daily
category aggregates.

None of them is partitioned: each materialisation brings its table up to the ledger and to today
(``ledger_pipelines.warehouse.snapshots.refresh``) and its metadata lists the days it (re)wrote and
restated, so Dagster keeps a handful of records per run whatever the length of the history. None of
them publishes: the published file changes only when the reports built on the same tables passed
their tests (``ledger_pipelines.defs.reports.assets``), so finance never sees one generation of
snapshots beside another of reports.

Domain modules are imported inside the asset bodies: the code location loads without Polars,
DuckDB or Pandera, which keeps it quick to load on a busy machine.
"""

from datetime import date
from typing import TYPE_CHECKING

import dagster as dg

from ledger_pipelines.defs.warehouse.automation import WAREHOUSE_POOL
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse, LedgerPostgres

if TYPE_CHECKING:
    from ledger_pipelines.warehouse.mirror import MirrorResult
    from ledger_pipelines.warehouse.snapshots import SnapshotResult

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


class SnapshotConfig(dg.Config):
    """``rebuild_from``: recompute every day from this one (``YYYY-MM-DD``) even if nothing changed -- a
    repair after the file was edited or damaged (``subledger run --rebuild-from``). Empty: only what is stale."""

    rebuild_from: str | None = None

    def rebuild_day(self) -> date | None:
        return date.fromisoformat(self.rebuild_from) if self.rebuild_from else None


def mirror_metadata(result: "MirrorResult") -> dict[str, dg.MetadataValue]:
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
    }


def snapshot_metadata(result: "SnapshotResult") -> dict[str, dg.MetadataValue]:
    written = f"{result.first_day}..{result.last_day}" if result.first_day else "nothing (up to date)"
    return {
        "dagster/row_count": dg.MetadataValue.int(result.rows),
        "days written": dg.MetadataValue.text(written),
        "why": dg.MetadataValue.text(result.reason),
        "first day written": dg.MetadataValue.text(str(result.first_day or "-")),
        "covers through": dg.MetadataValue.text(str(result.last_day or "-")),
        "restated rows": dg.MetadataValue.int(result.restated),
        "restated days": dg.MetadataValue.int(result.restated_days),
        "full rebuild (settings changed)": dg.MetadataValue.bool(result.full_rebuild),
        "anchors written": dg.MetadataValue.int(result.anchors or 0),
        "watermark (pg snapshot)": dg.MetadataValue.text(result.watermark.text if result.watermark else "-"),
        "run id": dg.MetadataValue.text(result.run_id),
        "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
    }


@dg.asset(
    key=MIRROR_KEY,
    deps=[POSTED_BATCHES, OUTBOX_BATCHES],
    group_name=WAREHOUSE_GROUP,
    kinds={"duckdb", "postgres"},
    owners=WAREHOUSE_OWNERS,
    pool=WAREHOUSE_POOL,
    description=(
        "The ledger (accounts, categories and memberships, transactions with their lifecycle, entries) mirrored "
        "into DuckDB analytics.* through Arrow, incrementally from the previous Postgres snapshot (watermark)."
    ),
)
def ledger_mirror(
    context: dg.AssetExecutionContext, duckdb_warehouse: DuckDBWarehouse, ledger_postgres: LedgerPostgres
) -> dg.MaterializeResult:
    import psycopg

    from ledger_pipelines.ledger.chain import seal
    from ledger_pipelines.warehouse.mirror import mirror

    settings = duckdb_warehouse.settings()
    # Single postings and moves are sealed here at the latest (ingest batches seal when they commit).
    with psycopg.connect(ledger_postgres.dsns().writer_dsn, autocommit=True) as pg:
        context.log.info(f"hash chain sealed through link {seal(pg)}")
    with duckdb_warehouse.writer() as conn:
        result = mirror(conn, ledger_postgres.dsns().reader_dsn, settings.timezone)
    context.log.info(
        f"mirrored {result.transactions} transactions, {result.entries} entries ({'full' if result.full else 'incremental'}) "
        f"at {result.rows_per_second:,.0f} rows/s; watermark {result.watermark.text}"
    )
    return dg.MaterializeResult(metadata=mirror_metadata(result))


@dg.asset(
    key=ACCOUNT_SNAPSHOTS_KEY,
    deps=[MIRROR_KEY],
    group_name=WAREHOUSE_GROUP,
    kinds={"duckdb", "postgres"},
    owners=WAREHOUSE_OWNERS,
    pool=WAREHOUSE_POOL,
    description=(
        "analytics.account_balance_snapshots: per account, currency and day (reporting time zone) the day's movements "
        "and the end-of-day posted/pending/available balances, kept current from the first day something changed; also "
        "writes the Postgres balance anchors. Rewritten days already reported are recorded in analytics.restatements."
    ),
)
def account_balance_snapshots(
    context: dg.AssetExecutionContext, config: SnapshotConfig, duckdb_warehouse: DuckDBWarehouse,
    ledger_postgres: LedgerPostgres,
) -> dg.MaterializeResult:
    from ledger_pipelines.warehouse import snapshots

    settings = duckdb_warehouse.settings()
    with duckdb_warehouse.writer() as conn:
        result = snapshots.refresh_accounts(
            conn, tz=settings.timezone, start=settings.start_date, through=settings.today(),
            rebuild_from=config.rebuild_day(), writer_dsn=ledger_postgres.dsns().writer_dsn,
        )
    context.log.info(f"account snapshots: {result.reason}; {result.rows} rows, {result.restated} restated, {result.anchors} anchors")
    return dg.MaterializeResult(metadata=snapshot_metadata(result))


@dg.asset(
    key=CATEGORY_SNAPSHOTS_KEY,
    deps=[ACCOUNT_SNAPSHOTS_KEY],
    group_name=WAREHOUSE_GROUP,
    kinds={"duckdb"},
    owners=WAREHOUSE_OWNERS,
    pool=WAREHOUSE_POOL,
    description=(
        "analytics.category_balance_snapshots: the same per category (every path prefix of an account code and every "
        "configured group, nested) and day; restated in full when the membership changes."
    ),
)
def category_balance_snapshots(
    context: dg.AssetExecutionContext, config: SnapshotConfig, duckdb_warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    from ledger_pipelines.warehouse import snapshots

    settings = duckdb_warehouse.settings()
    with duckdb_warehouse.writer() as conn:
        result = snapshots.refresh_categories(
            conn, tz=settings.timezone, start=settings.start_date, through=settings.today(), rebuild_from=config.rebuild_day(),
        )
    context.log.info(f"category snapshots: {result.reason}; {result.rows} rows, {result.restated} restated")
    return dg.MaterializeResult(metadata=snapshot_metadata(result))


WAREHOUSE_ASSETS = [ledger_mirror, account_balance_snapshots, category_balance_snapshots]
