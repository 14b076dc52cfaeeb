"""The warehouse's Pandera checks as Dagster asset checks (ERROR severity), blocking but one.

A failing check stops everything downstream of its asset in the same run (``blocking=True``):
the reports are not rebuilt and the published warehouse keeps its last consistent generation.
The snapshot checks cover exactly the days the latest build wrote. The metadata carries the
offending rows (first 20 as a table), their count and what to do (the runbook, docs/warehouse.md).
"""

from typing import TYPE_CHECKING

import dagster as dg

from ledger_pipelines.defs.warehouse.assets import account_balance_snapshots, category_balance_snapshots, ledger_mirror
from ledger_pipelines.defs.warehouse.automation import WAREHOUSE_POOL
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse, LedgerPostgres

if TYPE_CHECKING:
    from ledger_pipelines.warehouse.checks import CheckResult

OFFENDING_PREVIEW_ROWS = 20


def offending_table(result: "CheckResult") -> dg.TableMetadataValue:
    """The first offending rows as a table the UI shows inline (values as text, as the check saw them)."""
    columns, rows = result.first_offending(OFFENDING_PREVIEW_ROWS)
    return dg.MetadataValue.table(
        records=[dg.TableRecord(dict(zip(columns, row, strict=True))) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(name, "string") for name in columns]),
    )


def to_check_result(result: "CheckResult") -> dg.AssetCheckResult:
    metadata: dict[str, dg.MetadataValue] = {
        "checked rows": dg.MetadataValue.int(result.checked_rows),
        "offending rows": dg.MetadataValue.int(result.offending.height),
        "offending (first rows)": offending_table(result),
    }
    if not result.passed:
        metadata["what to do"] = dg.MetadataValue.text(result.runbook)
    for key, value in result.notes.items():
        metadata[key] = dg.MetadataValue.text(str(value))
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=result.description,
    )


@dg.asset_check(asset=ledger_mirror, name="mirror_complete", blocking=True, pool=WAREHOUSE_POOL,
                description="Per effective day (UTC), currency and status: the mirror's counts and sums equal Postgres at the watermark.")
def mirror_complete(duckdb_warehouse: DuckDBWarehouse, ledger_postgres: LedgerPostgres) -> dg.AssetCheckResult:
    from ledger_pipelines.warehouse import checks

    with duckdb_warehouse.writer() as conn:
        return to_check_result(checks.mirror_complete(conn, ledger_postgres.dsns().reader_dsn))


@dg.asset_check(asset=ledger_mirror, name="mirror_transactions_balance", blocking=True, pool=WAREHOUSE_POOL,
                description="Every mirrored transaction balances per currency.")
def mirror_transactions_balance(duckdb_warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
    from ledger_pipelines.warehouse import checks

    with duckdb_warehouse.writer() as conn:
        return to_check_result(checks.balanced_transactions_mirror(conn))


@dg.asset_check(asset=ledger_mirror, name="ledger_transactions_balance", blocking=True,
                description="Every ledger transaction balances per currency (Postgres).")
def ledger_transactions_balance(ledger_postgres: LedgerPostgres) -> dg.AssetCheckResult:
    from ledger_pipelines.warehouse import checks

    return to_check_result(checks.balanced_transactions_ledger(ledger_postgres.dsns().reader_dsn))


@dg.asset_check(asset=ledger_mirror, name="ledger_cache_drift", blocking=True,
                description="Cached balances in Postgres equal the recomputation from entries (drift per account and currency).")
def ledger_cache_drift(ledger_postgres: LedgerPostgres) -> dg.AssetCheckResult:
    from ledger_pipelines.warehouse import checks

    return to_check_result(checks.cache_drift(ledger_postgres.dsns().reader_dsn))


@dg.asset_check(asset=ledger_mirror, name="ledger_chain_intact", blocking=True,
                description="The ledger's rows are the ones sealed in the hash chain (from the link verified last); "
                            "names the first transaction, move or audit row changed, inserted, deleted or reordered.")
def ledger_chain_intact(ledger_postgres: LedgerPostgres) -> dg.AssetCheckResult:
    """The same check as `subledger verify`, from the same checkpoint file (SUBLEDGER_HOME); it
    reads Postgres only, so it takes no slot of the warehouse pool."""
    from ledger_pipelines.warehouse import checks

    checkpoint = ledger_postgres.settings().chain_checkpoint_path
    return to_check_result(checks.chain_intact(ledger_postgres.dsns().reader_dsn, checkpoint))


def _written_days_check(duckdb_warehouse: DuckDBWarehouse, scope: str) -> dg.AssetCheckResult:
    """Snapshot rows of the days the latest build (re)wrote equal a recomputation from the mirror."""
    from ledger_pipelines.warehouse import checks, freshness
    from ledger_pipelines.warehouse.snapshots import PRODUCTS

    settings = duckdb_warehouse.settings()
    with duckdb_warehouse.writer() as conn:
        build = freshness.read_build(conn, PRODUCTS[scope])
        first = build.first_written or build.last_day if build else None
        return to_check_result(checks.snapshots_match(conn, scope, tz=settings.timezone, start=settings.start_date, first=first))


@dg.asset_check(asset=account_balance_snapshots, name="account_snapshots_match_recomputation", blocking=True,
                pool=WAREHOUSE_POOL, description="The account snapshot rows the run wrote equal a recomputation from the mirror.")
def account_snapshots_match_recomputation(duckdb_warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
    return _written_days_check(duckdb_warehouse, "account")


@dg.asset_check(asset=account_balance_snapshots, name="anchors_match_entries", blocking=False,
                description="Every balance anchor in Postgres (what `subledger balance --as-of` answers from) equals its "
                            "recomputation from the entries, and no lifecycle move escapes it.")
def anchors_match_entries(ledger_postgres: LedgerPostgres) -> dg.AssetCheckResult:
    """Not blocking: the anchors serve `subledger balance --as-of`, not the reports downstream."""
    from ledger_pipelines.warehouse import checks

    return to_check_result(checks.anchors_match(ledger_postgres.dsns().reader_dsn))


@dg.asset_check(asset=category_balance_snapshots, name="category_snapshots_match_recomputation", blocking=True,
                pool=WAREHOUSE_POOL, description="The category snapshot rows the run wrote equal a recomputation from the mirror.")
def category_snapshots_match_recomputation(duckdb_warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
    return _written_days_check(duckdb_warehouse, "category")


@dg.asset_check(asset=category_balance_snapshots, name="category_totals_equal_members", blocking=True,
                pool=WAREHOUSE_POOL, description="Every category row the run wrote equals the sum of its member accounts' rows.")
def category_totals_equal_members(duckdb_warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
    from ledger_pipelines.warehouse import checks, freshness

    start = duckdb_warehouse.settings().start_date
    with duckdb_warehouse.writer() as conn:
        build = freshness.read_build(conn, freshness.CATEGORY_SNAPSHOTS)
        first = build.first_written or build.last_day if build else None
        return to_check_result(checks.category_totals(conn, start=start, first=first))


WAREHOUSE_CHECKS = [
    mirror_complete, mirror_transactions_balance, ledger_chain_intact, ledger_transactions_balance, ledger_cache_drift,
    account_snapshots_match_recomputation, anchors_match_entries, category_snapshots_match_recomputation,
    category_totals_equal_members,
]
