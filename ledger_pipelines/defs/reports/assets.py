"""Report assets: the dbt models (``reports/<model>``) built by one ``dbt build`` on the warehouse
work file, and the per-period exports for finance (``reports/exports/<report>_files``).

The dbt build follows the warehouse's one-writer rule: the step takes a slot of the
``duckdb_warehouse`` pool, holds the work file's writer lock for the whole build with no DuckDB
connection of its own open on the file (dbt, a child process, is the only writer), then -- still
under the lock -- renders previews and charts from the freshly built tables and publishes the file
atomically. The exports read the published copy (read-only), as finance does.
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ledger_pipelines.defs.reports.project import (
    EXPORTS_GROUP,
    REPORT_FRESHNESS,
    REPORTS_OWNERS,
    ReportsTranslator,
    ensure_manifest,
    report_asset_key,
    reports_dbt_project,
)
from ledger_pipelines.defs.warehouse.automation import WAREHOUSE_POOL
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse
from ledger_pipelines.reports.catalog import REPORTS

if TYPE_CHECKING:  # the domain modules (DuckDB, Arrow, charts) are imported when a step runs
    import duckdb

PREVIEW_ROWS = 10
REPORT_MODELS_OP = "report_models"
EXPORTS_PREFIX = ("reports", "exports")


def report_metadata(con: "duckdb.DuckDBPyConnection", model_name: str) -> dict[str, dg.MetadataValue]:
    """Preview (latest period, major units) and, for the time series, a chart, of one report."""
    from ledger_pipelines.reports import charts, preview

    if model_name not in REPORTS:
        return {}
    spec = REPORTS[model_name]
    shown = preview.preview(con, spec, limit=PREVIEW_ROWS)
    metadata: dict[str, dg.MetadataValue] = {
        "preview": dg.MetadataValue.table(
            records=[dg.TableRecord(dict(zip(shown.columns, row, strict=True))) for row in shown.rows],
            schema=dg.TableSchema(columns=[dg.TableColumn(name, "string") for name in shown.columns]),
        ),
        "preview note": dg.MetadataValue.text(shown.note),
        "periods": dg.MetadataValue.int(
            con.execute(f'SELECT count(DISTINCT "{spec.period_column}") FROM {spec.relation}').fetchone()[0]
        ),
    }
    png = charts.chart_for(con, model_name)
    if png is not None:
        metadata["chart"] = dg.MetadataValue.md(charts.png_markdown(png, spec.title))
    return metadata


def dbt_target_path(duckdb_warehouse: DuckDBWarehouse) -> Path:
    """dbt's target folder for the pipeline's builds: one per warehouse home (builds are serialised by
    the writer lock, so they can share it and dbt's partial parsing stays warm)."""
    return duckdb_warehouse.settings().home / "dbt" / "target"


@dbt_assets(
    manifest=ensure_manifest(reports_dbt_project),
    project=reports_dbt_project,
    dagster_dbt_translator=ReportsTranslator(),
    name=REPORT_MODELS_OP,
    pool=WAREHOUSE_POOL,
)
def report_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb_warehouse: DuckDBWarehouse):
    """``dbt build`` (models and their tests) on the work file under the writer lock, then publish."""
    from ledger_pipelines.reports.dbt_runner import dbt_env, dbt_vars, temporary_environment
    from ledger_pipelines.warehouse import freshness
    from ledger_pipelines.warehouse.publish import publish_unlocked
    from ledger_pipelines.warehouse.store import connect, ensure_schema, writer_lock

    settings = duckdb_warehouse.settings()
    work, published = duckdb_warehouse.paths()
    target = dbt_target_path(duckdb_warehouse)
    with writer_lock(work, duckdb_warehouse.lock_timeout_seconds):
        conn = connect(work)  # the analytics tables exist even before the first mirror
        try:
            ensure_schema(conn)
            freshness.report_inputs(conn)  # never build reports from tables of two generations
            conn.execute("CHECKPOINT")
        except freshness.StaleInputs as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        finally:
            conn.close()
        with temporary_environment(dbt_env(work)):
            invocation = dbt.cli(["build", "--vars", json.dumps(dbt_vars(settings.timezone))], context=context,
                                 raise_on_error=False, target_path=target)
            events = list(invocation.stream())
        succeeded = invocation.is_successful()
        conn = connect(work)
        try:
            events = [_with_report_metadata(context, conn, event) for event in events]
            generation = freshness.record_reports_build(conn, context.run.run_id) if succeeded else None
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        if succeeded:
            # The one place the warehouse is published: everything in the file (mirror, snapshots
            # and these reports) is of one generation and passed its checks and tests.
            done = publish_unlocked(work, published)
            context.log.info(f"reports built from ledger watermark {generation.watermark} through {generation.last_day} "
                             f"and published to {done.path} ({done.bytes:,} bytes)")
            events = [_with_generation(event, generation) for event in events]
    yield from events
    if not succeeded:
        failed = [e for e in events if isinstance(e, dg.AssetCheckResult) and not e.passed]
        names = ", ".join(sorted(f"{e.asset_key.to_user_string()}:{e.check_name}" for e in failed)) or "see the dbt logs"
        raise dg.Failure(
            description=(
                f"dbt build failed ({names}); the reports were NOT published, finance keeps the previous ones. "
                f"Each failing test's compiled SQL is under {target}/compiled: run it against {work} "
                "(read-only) to see the offending rows, fix the data upstream, then re-materialise."
            ),
            metadata={"dbt target folder": dg.MetadataValue.path(str(target))},
        )


def table_metadata(con: "duckdb.DuckDBPyConnection", name: str) -> dict[str, dg.MetadataValue]:
    """Row count and column types of the model ``name`` as built (Dagster's standard table keys,
    which the UI shows on the asset's page): read after the build, from the same file."""
    columns = con.execute(
        "SELECT table_schema, column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "AND table_schema LIKE 'reports%' ORDER BY ordinal_position", [name]).fetchall()
    if not columns:
        return {}
    schema = columns[0][0]
    rows = con.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0]
    return {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(
            dg.TableSchema(columns=[dg.TableColumn(column, kind) for s, column, kind in columns if s == schema])),
    }


def _with_report_metadata(context: dg.AssetExecutionContext, con: "duckdb.DuckDBPyConnection", event: Any) -> Any:
    """The dbt Output of a model, with its row count and column types, and for a report its
    preview (and chart)."""
    import duckdb

    if isinstance(event, dg.Output):
        key = context.assets_def.keys_by_output_name[event.output_name]
        try:
            extra = {**table_metadata(con, key.path[-1]), **report_metadata(con, key.path[-1])}
        except (duckdb.Error, ValueError) as exc:  # a preview must never stop the reports being published
            context.log.warning(f"no preview for {key.to_user_string()}: {exc}")
            extra = {"preview": dg.MetadataValue.text(f"preview unavailable: {exc}")}
        if extra:
            return event.with_metadata({**(event.metadata or {}), **extra})
    return event


def _with_generation(event: Any, generation: Any) -> Any:
    """A report model's Output with the ledger watermark and last day the published file reflects."""
    if isinstance(event, dg.Output):
        return event.with_metadata({
            **(event.metadata or {}),
            "ledger watermark": dg.MetadataValue.text(generation.watermark),
            "balances through": dg.MetadataValue.text(str(generation.last_day)),
        })
    return event


# -- exports ---------------------------------------------------------------------------------------
class ExportConfig(dg.Config):
    """Which periods to export (``YYYY-MM``); empty: every period the report has rows for."""

    periods: list[str] = []
    close_pack: bool = False


def export_key(report_name: str) -> dg.AssetKey:
    """``reports/exports/<report>_files``: named apart from the report itself, which the UI shows by its last name."""
    return dg.AssetKey([*EXPORTS_PREFIX, f"{report_name}_files"])


FILES_READ_BACK = "files_read_back"

EXPORT_SPECS = [
    dg.AssetSpec(
        key=export_key(name),
        deps=[report_asset_key(name)],
        group_name=EXPORTS_GROUP,
        owners=REPORTS_OWNERS,
        kinds={"duckdb", "parquet", "csv"},
        freshness_policy=REPORT_FRESHNESS,
        skippable=True,
        description=(
            f"{spec.title} for finance: $SUBLEDGER_HOME/reports/{name}/<YYYY-MM>.{{csv,parquet,xlsx}}, one file set per "
            "period, written atomically. CSV/XLSX in major units with the currency's decimals, Parquet in integer "
            "minor units; CSV formula injection neutralised."
        ),
    )
    for name, spec in REPORTS.items()
]

EXPORT_CHECKS = [
    dg.AssetCheckSpec(
        FILES_READ_BACK, asset=export_key(name), blocking=True,
        description="Every file written in the run is read back: the Parquet file equals the report's rows exactly, "
                    "the CSV and XLSX have one row per report row.",
    )
    for name in REPORTS
]


@dg.multi_asset(specs=EXPORT_SPECS, check_specs=EXPORT_CHECKS, can_subset=True, pool=WAREHOUSE_POOL,
                name="report_exports")
def report_exports(context: dg.AssetExecutionContext, config: ExportConfig, duckdb_warehouse: DuckDBWarehouse):
    """Export the selected reports from the published warehouse (read-only), then read the files back."""
    from ledger_pipelines.reports.exports import FORMATS
    from ledger_pipelines.reports.publishing import ExportOutcome, export_for_finance, file_listing_markdown

    settings = duckdb_warehouse.settings()
    names = [name for name in REPORTS if export_key(name) in context.selected_asset_keys]
    outcomes: list[ExportOutcome] = export_for_finance(
        duckdb_warehouse.paths()[1], settings.reports_dir, names,
        periods=config.periods or None, close_pack=config.close_pack, entity=settings.entity_name,
    )
    for outcome in outcomes:
        key = export_key(outcome.report)
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "periods": dg.MetadataValue.int(len(outcome.exported)),
                "periods rewritten": dg.MetadataValue.int(outcome.rewritten),
                "periods unchanged": dg.MetadataValue.int(outcome.unchanged),
                "dagster/row_count": dg.MetadataValue.int(outcome.rows),
                "folder": dg.MetadataValue.path(str(outcome.folder)),
                "files": dg.MetadataValue.md(file_listing_markdown(outcome)),
                "formats": dg.MetadataValue.text(", ".join(FORMATS)),
            },
        )
        yield dg.AssetCheckResult(
            asset_key=key, check_name=FILES_READ_BACK, passed=not outcome.problems,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"files checked": dg.MetadataValue.int(outcome.files_checked),
                      "problems": dg.MetadataValue.md("\n".join(f"* {p}" for p in outcome.problems) or "_none_")},
        )


REPORT_ASSETS = [report_models, report_exports]
