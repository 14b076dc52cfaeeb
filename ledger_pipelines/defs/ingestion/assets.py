"""Ingestion assets: landed files (one dynamic partition each) and the outbox, into the ledger."""


import os
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import dagster as dg

from ledger_pipelines.defs.ingestion.partitions import landed_files_partitions, relative_path_of
from ledger_pipelines.defs.settings_resource import SubledgerSettings
from ledger_pipelines.ingest.landing import RefusedFile, relative_inside

if TYPE_CHECKING:  # the ingestion pipeline (Polars, Pandera) is imported when a step runs, not when the code loads
    from ledger_pipelines.ingest.writer import BatchReport

LEDGER_GROUP = "ledger"
INGESTION_OWNERS = ["team:data-platform"]
T = TypeVar("T")
TRANSIENT_RETRIES = 3  # connection lost, server restarting, serialization failures left over by the writer's own retries

landing_files = dg.AssetSpec(
    key=dg.AssetKey(["sources", "landing_files"]),
    description="Source-event files producers drop into SUBLEDGER_LANDING_DIR (.jsonl, .jsonl.gz, .csv, .parquet).",
    group_name="sources",
    kinds={"file"},
    owners=INGESTION_OWNERS,
)
outbox_table = dg.AssetSpec(
    key=dg.AssetKey(["sources", "outbox"]),
    description="The application's outbox table ingest.outbox in the ledger database.",
    group_name="sources",
    kinds={"postgres"},
    owners=INGESTION_OWNERS,
)


def transient_db_errors() -> tuple[type[Exception], ...]:
    import psycopg

    from ledger_pipelines.ledger.posting import RETRYABLE

    return (psycopg.OperationalError, *RETRYABLE)


def batch_metadata(report: "BatchReport") -> dict[str, dg.MetadataValue]:
    """What a data engineer wants to see on each batch in the UI."""
    reasons = "\n".join(f"| `{code}` | {count} |" for code, count in sorted(report.reasons.items(), key=lambda kv: -kv[1]))
    dates = report.effective_dates
    return {
        "batch_id": dg.MetadataValue.text(report.batch_id),
        "source": dg.MetadataValue.text(report.source_name),
        "skipped (already ingested)": dg.MetadataValue.bool(report.skipped),
        "events": dg.MetadataValue.int(report.events),
        "posted": dg.MetadataValue.int(report.posted),
        "pending": dg.MetadataValue.int(report.pending),
        "duplicate": dg.MetadataValue.int(report.duplicate),
        "quarantined": dg.MetadataValue.int(report.quarantined),
        "backdated": dg.MetadataValue.int(report.backdated),
        "effective dates touched": dg.MetadataValue.int(len(dates)),
        "first effective date": dg.MetadataValue.text(str(dates[0]) if dates else "-"),
        "last effective date": dg.MetadataValue.text(str(dates[-1]) if dates else "-"),
        "quarantine reasons": dg.MetadataValue.md(
            "| reason code | events |\n|---|---|\n" + reasons if reasons else "_no event was quarantined_"
        ),
        "bytes": dg.MetadataValue.int(report.bytes),
        "seconds": dg.MetadataValue.float(round(report.seconds, 3)),
        "rows/s": dg.MetadataValue.float(round(report.events_per_second, 1)),
    }


def _with_transient_retry(context: dg.AssetExecutionContext, work: Callable[[], T]) -> T:
    """Run ``work``; a transient database error retries the step (2, 4, 8 s later), anything else fails it.

    Only transient errors are retried: a bad file or a bug would fail the same way again. A retry
    is safe because a batch is one database transaction claimed by its content hash.
    """
    try:
        return work()
    except transient_db_errors() as exc:
        context.log.warning(
            f"transient database error (attempt {context.retry_number + 1} of {TRANSIENT_RETRIES + 1}); "
            f"the step will be retried: {exc}"
        )
        raise dg.RetryRequested(max_retries=TRANSIENT_RETRIES, seconds_to_wait=2 ** (context.retry_number + 1)) from exc


@dg.asset(
    key=dg.AssetKey(["ledger", "posted_batches"]),
    deps=[landing_files],
    partitions_def=landed_files_partitions,
    group_name=LEDGER_GROUP,
    kinds={"python", "postgres"},
    owners=INGESTION_OWNERS,
    description=(
        "Each landed file posted to the ledger as one batch (one database transaction): every event ends "
        "posted, pending, duplicate or quarantined (with its raw bytes and reason). Re-running a partition is "
        "a no-op for content already ingested."
    ),
)
def posted_batches(context: dg.AssetExecutionContext, subledger: SubledgerSettings) -> dg.MaterializeResult:
    settings = subledger.get()
    root = settings.landing_dir
    try:
        path = relative_inside(root, relative_path_of(context.partition_key))
    except (RefusedFile, UnicodeDecodeError) as exc:
        raise dg.Failure(f"partition {context.partition_key!r} does not name a file in the landing folder ({exc}); "
                         "nothing was read. Ignore or delete this partition.", allow_retries=False) from None
    if not os.path.lexists(path):
        raise dg.Failure(
            f"{path} is gone from the landing folder; put the file back (the partition names it) or ignore this partition.",
            allow_retries=False,
        )

    from ledger_pipelines.ingest.ingestor import ingestor

    def ingest() -> "BatchReport":
        with ingestor(settings) as ing:
            return ing.ingest_file(path, root=root)  # a link, FIFO, ... is quarantined whole, never read

    report = _with_transient_retry(context, ingest)
    context.log.info(
        f"batch {report.batch_id} ({path.name}): {report.as_json()}" + (" - already ingested" if report.skipped else "")
    )
    return dg.MaterializeResult(metadata=batch_metadata(report))


@dg.asset(
    key=dg.AssetKey(["ledger", "outbox_batches"]),
    deps=[outbox_table],
    group_name=LEDGER_GROUP,
    kinds={"python", "postgres"},
    owners=INGESTION_OWNERS,
    description=("The rows waiting in the application's outbox (ingest.outbox), claimed and posted in batches exactly "
                 "as `subledger workers` post them (a drain that ends at the newest row when it started)."),
)
def outbox_batches(context: dg.AssetExecutionContext, subledger: SubledgerSettings) -> dg.MaterializeResult:
    settings = subledger.get()

    from ledger_pipelines.service.queue import drain, merge_reports

    report = _with_transient_retry(context, lambda: merge_reports(drain(settings)))
    if report is None:
        return dg.MaterializeResult(metadata={"events": dg.MetadataValue.int(0)})
    return dg.MaterializeResult(metadata=batch_metadata(report))


def current_landed_files(settings) -> list[tuple[str, str]]:
    """(relative path, content hash) of every complete file in the landing folder."""
    root = settings.landing_dir
    from ledger_pipelines.ingest.ingestor import file_hash, landed_files

    return [(str(p.relative_to(root)), file_hash(p, root)) for p in landed_files([root])] if root.is_dir() else []
