"""Report assets: the dbt models (``reports/<model>``) built by one ``dbt build`` on the warehouse
work file, and the per-period exports for finance (``reports/exports/<report>_files``).

The dbt build follows the warehouse's one-writer rule: the step takes a slot of the
``duckdb_warehouse`` pool, holds the work file's writer lock for the whole build with no DuckDB
connection of its own open on the file (dbt, a child process, is the only writer); events stream as
dbt emits them. Then -- still under the lock -- it renders the statements' previews and charts from
the freshly built tables and publishes the file atomically. The exports read the published copy (read-only), as finance does.
"""

import json
from collections.abc import Iterator
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
    """``dbt build`` (models and their tests) on the work file under the writer lock, then publish.

    Events stream as dbt emits them: each model's materialisation arrives when dbt finishes it, with
    its columns and row count (reported by the model's own post-hook, macros/log_model_metadata.sql,
    since nothing else may open the file while dbt writes it). The statements finance reads are the
    exception: their materialisations and test results wait for dbt to exit, because their preview
    and chart read the built file, and are recorded after the file is published -- a statement shown
    as materialised is one finance can open.
    """
    from ledger_pipelines.reports.dbt_runner import dbt_env, dbt_vars, temporary_environment
    from ledger_pipelines.warehouse import freshness
    from ledger_pipelines.warehouse.publish import publish_unlocked
    from ledger_pipelines.warehouse.store import connect, ensure_schema, writer_lock

    settings = duckdb_warehouse.settings()
    work, published = duckdb_warehouse.paths()
    target = dbt_target_path(duckdb_warehouse)
    statements: list[Any] = []
    with writer_lock(work, duckdb_warehouse.lock_timeout_seconds):
        conn = connect(work)  # the analytics tables exist even before the first mirror
        try:
            ensure_schema(conn)
            inputs = freshness.report_inputs(conn)  # never build reports from tables of two generations
            conn.execute("CHECKPOINT")
        except freshness.StaleInputs as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        finally:
            conn.close()
        with temporary_environment(dbt_env(work)):  # read by dbt's profile when the process starts
            invocation = dbt.cli(["build", "--vars", json.dumps(dbt_vars(settings.timezone))], context=context,
                                 raise_on_error=False, target_path=target)
        for event in model_events(context, invocation):
            event = _with_generation(event, inputs)
            if _is_statement_event(context, event):
                statements.append(event)
            else:
                yield event
        succeeded = invocation.is_successful()
        conn = connect(work)
        try:
            statements = [_with_report_metadata(context, conn, event) for event in statements]
            if succeeded:
                freshness.record_reports_build(conn, context.run.run_id)
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        if succeeded:
            # The one place the warehouse is published: everything in the file (mirror, snapshots
            # and these reports) is of one generation and passed its checks and tests.
            done = publish_unlocked(work, published)
            context.log.info(f"reports built from ledger watermark {inputs.watermark} through {inputs.last_day} "
                             f"and published to {done.path} ({done.bytes:,} bytes)")
    yield from statements
    if not succeeded:
        failed = [e for e in statements if isinstance(e, dg.AssetCheckResult) and not e.passed]
        names = ", ".join(sorted(f"{e.asset_key.to_user_string()}:{e.check_name}" for e in failed)) or "see the dbt logs"
        raise dg.Failure(
            description=(
                f"dbt build failed ({names}); the reports were NOT published, finance keeps the previous ones. "
                f"Each failing test's compiled SQL is under {target}/compiled: run it against {work} "
                "(read-only) to see the offending rows, fix the data upstream, then re-materialise."
            ),
            metadata={"dbt target folder": dg.MetadataValue.path(str(target))},
        )


ROW_COUNT_LOG = "subledger row_count "


def model_events(context: dg.AssetExecutionContext, invocation: Any) -> Iterator[Any]:
    """dagster-dbt's events for ``invocation``, as dbt emits them, each model's Output with the row
    count its post-hook logged (``subledger row_count <n>``); the columns the same hook logged as
    JSON are attached by dagster-dbt itself."""
    row_counts: dict[str, int] = {}
    for raw in invocation.stream_raw_events():
        info = raw.raw_event["info"]
        unique_id = raw.raw_event["data"].get("node_info", {}).get("unique_id")
        if info["name"] == "JinjaLogInfo" and unique_id and info["msg"].startswith(ROW_COUNT_LOG):
            row_counts[unique_id] = int(info["msg"][len(ROW_COUNT_LOG):])
            continue
        for event in raw.to_default_asset_events(
            manifest=invocation.manifest, dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=context, target_path=invocation.target_path, project=invocation.project,
        ):
            node = (event.metadata or {}).get("unique_id") if isinstance(event, dg.Output) else None
            rows = row_counts.get(getattr(node, "value", node))
            yield event if rows is None else event.with_metadata({**event.metadata, "dagster/row_count": rows})


def _event_asset_key(context: dg.AssetExecutionContext, event: Any) -> dg.AssetKey | None:
    if isinstance(event, dg.Output):
        return context.assets_def.keys_by_output_name[event.output_name]
    return getattr(event, "asset_key", None)


def _is_statement_event(context: dg.AssetExecutionContext, event: Any) -> bool:
    """Whether ``event`` is about one of the statements finance reads (``reports.catalog.REPORTS``)."""
    key = _event_asset_key(context, event)
    return key is not None and key.path[-1] in REPORTS


def _with_report_metadata(context: dg.AssetExecutionContext, con: "duckdb.DuckDBPyConnection", event: Any) -> Any:
    """A statement's dbt Output with its preview (latest period, major units) and chart."""
    import duckdb

    if isinstance(event, dg.Output):
        key = context.assets_def.keys_by_output_name[event.output_name]
        try:
            extra = report_metadata(con, key.path[-1])
        except (duckdb.Error, ValueError) as exc:  # a preview must never stop the reports being published
            context.log.warning(f"no preview for {key.to_user_string()}: {exc}")
            extra = {"preview": dg.MetadataValue.text(f"preview unavailable: {exc}")}
        if extra:
            return event.with_metadata({**(event.metadata or {}), **extra})
    return event


def _with_generation(event: Any, inputs: Any) -> Any:
    """A model's Output with the ledger watermark and last day of the snapshots it was built from."""
    if isinstance(event, dg.Output):
        return event.with_metadata({
            **(event.metadata or {}),
            "ledger watermark": dg.MetadataValue.text(inputs.watermark),
            "balances through": dg.MetadataValue.text(str(inputs.last_day)),
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
