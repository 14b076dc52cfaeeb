"""The landing-folder sensor: each new or changed file becomes a partition and a run."""


import json
import os
import time

import dagster as dg

from ledger_pipelines.defs.ingestion.assets import posted_batches
from ledger_pipelines.defs.ingestion.partitions import landed_files_partitions, partition_key_for
from ledger_pipelines.defs.settings_resource import SubledgerSettings
from ledger_pipelines.ingest.landing import identify, scan_folder

SETTLE_SECONDS = 2.0  # a file must be unchanged this long: producers may still be writing it

ingest_landed_files_job = dg.define_asset_job(
    "ingest_landed_files", selection=[posted_batches],  # partitioned like posted_batches: one landed file per run
    description="Post one landed file (a landed_files partition) to the ledger.",
)


@dg.sensor(
    job=ingest_landed_files_job,
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches SUBLEDGER_LANDING_DIR; every new or changed file becomes a landed_files partition and a run.",
)
def landing_folder_sensor(context: dg.SensorEvaluationContext, subledger: SubledgerSettings) -> dg.SensorResult:
    """Request a run for every settled file that is new or changed since the last tick, unless its
    content is in the ledger already.

    The cursor maps each file to ``size:mtime`` (from ``lstat``: a link is never followed), so a
    tick hashes only new or changed files. On the first tick (an empty cursor, e.g. the first
    ``subledger dev`` after ``subledger demo``) that is every file: their content hashes are then
    looked up in ``ingest.batches`` in one query, and a file already ingested requests no run.
    """
    settings = subledger.get()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    root = settings.landing_dir
    now = time.time()
    changed = {}
    for path in scan_folder(root) if root.is_dir() else []:
        status = os.lstat(path)
        fingerprint = f"{status.st_size}:{status.st_mtime_ns}"
        relative = str(path.relative_to(root))
        if seen.get(relative) == fingerprint or now - status.st_mtime < SETTLE_SECONDS:
            continue
        changed[relative] = (fingerprint, identify(path, root))
    from ledger_pipelines.ingest.ingestor import already_ingested_files

    done = already_ingested_files(settings, [identity for _, identity in changed.values()])
    keys: list[str] = []
    for relative, (fingerprint, identity) in changed.items():
        seen[relative] = fingerprint
        if identity.path not in done:
            keys.append(partition_key_for(relative, identity.content_hash))
    if keys:
        context.log.info(f"{len(keys)} new file(s): {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}")
    if len(changed) > len(keys):
        context.log.info(f"{len(changed) - len(keys)} file(s) already ingested with this content: no run")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=key, run_key=key) for key in keys],
        dynamic_partitions_requests=[landed_files_partitions.build_add_request(keys)] if keys else [],
        cursor=json.dumps(seen, sort_keys=True),
    )
