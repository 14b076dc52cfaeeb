"""The landing-folder sensor: each new or changed file becomes a partition and a run."""


import json
import time

import dagster as dg

from ledger_pipelines.defs.ingestion.assets import posted_batches
from ledger_pipelines.defs.ingestion.partitions import landed_files_partitions, partition_key_for
from ledger_pipelines.defs.settings_resource import SubledgerSettings
from ledger_pipelines.ingest.service import file_hash, landed_files

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
    settings = subledger.get()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    root = settings.landing_dir
    keys: list[str] = []
    now = time.time()
    for path in landed_files([root]) if root.is_dir() else []:
        stat = path.stat()
        fingerprint = f"{stat.st_size}:{stat.st_mtime_ns}"
        relative = str(path.relative_to(root))
        if seen.get(relative) == fingerprint or now - stat.st_mtime < SETTLE_SECONDS:
            continue
        keys.append(partition_key_for(relative, file_hash(path)))
        seen[relative] = fingerprint
    if keys:
        context.log.info(f"{len(keys)} new file(s): {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=key, run_key=key) for key in keys],
        dynamic_partitions_requests=[landed_files_partitions.build_add_request(keys)] if keys else [],
        cursor=json.dumps(seen, sort_keys=True),
    )
