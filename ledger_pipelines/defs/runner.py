"""``subledger run``: materialise the asset graph (or a selection) in process, checks included.

Dagster runs one partitions definition per run, so the selection is cut into **stages**: assets in
topological order, grouped so that every stage holds assets of one partitions definition whose
selected upstream assets are all in earlier stages (or in the same stage, with the same
definition). Each stage then becomes runs on the platform's own Dagster instance (Postgres-backed,
so they appear in the UI):

* **landed files** (dynamic partitions, one per file): the landing folder is scanned as the sensor
  does; every current file whose partition has not been materialised yet gets its own run, in
  path order (a file is one batch, one database transaction);
* **daily** (reporting time zone): the days from ``SUBLEDGER_START_DATE`` through today that are
  missing or stale given the mirror (``warehouse.restatements.days_to_build``) -- ONE run over
  their range (the single-run backfill policy: the computation is vectorised over the range);
* **unpartitioned**: one run.

``--partition KEY`` replaces that choice in the stages whose partitions definition has the key;
unpartitioned stages still run; other partitioned stages are skipped. A stage fails when its run
fails or an ERROR-severity check fails; later stages are then not started (they would read what
failed) and the report says so.

Stage planning (:func:`plan_stages`) is pure over the asset graph; execution
(:func:`run_stages`) needs an instance and the loaded definitions.
"""

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg

from ledger_pipelines.config import Settings
from ledger_pipelines.defs.ingestion.partitions import landed_files_partitions, partition_key_for
from ledger_pipelines.ingest.service import file_hash, landed_files
from ledger_pipelines.warehouse.restatements import days_to_build
from ledger_pipelines.warehouse.store import open_work

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
RUN_SOURCE_TAG = "subledger/launched_by"

# Dagster's own event lines (step started, handled output, ...) are for the UI and the event log;
# on the terminal the runner prints one line per run instead.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class RunSelectionError(ValueError):
    """The selection or partition key names nothing that can be materialised."""


@dataclass(frozen=True)
class Stage:
    """Assets materialised together: one partitions definition (or none)."""

    keys: tuple[dg.AssetKey, ...]
    partitions_def: dg.PartitionsDefinition | None

    @property
    def kind(self) -> str:
        if self.partitions_def is None:
            return "unpartitioned"
        if isinstance(self.partitions_def, dg.DynamicPartitionsDefinition):
            return f"dynamic:{self.partitions_def.name}"
        if isinstance(self.partitions_def, dg.TimeWindowPartitionsDefinition):
            return "daily"
        return type(self.partitions_def).__name__

    @property
    def label(self) -> str:
        return ", ".join(key.to_user_string() for key in self.keys)


@dataclass
class RunOutcome:
    """One Dagster run of a stage."""

    stage: Stage
    partitions: tuple[str, ...]
    run_id: str
    success: bool
    seconds: float
    failed_checks: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.success and not self.failed_checks


@dataclass
class PipelineReport:
    """Every run started, and the stages skipped (with why)."""

    runs: list[RunOutcome] = field(default_factory=list)
    skipped: list[tuple[Stage, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs)

    def failures(self) -> list[RunOutcome]:
        return [run for run in self.runs if not run.ok]


def resolve_selection(defs: dg.Definitions, select: str | None) -> set[dg.AssetKey]:
    """The materialisable asset keys of ``select`` (Dagster selection syntax), default all."""
    graph = defs.resolve_asset_graph()
    materializable = set(graph.materializable_asset_keys)
    if not select:
        return materializable
    try:
        chosen = dg.AssetSelection.from_string(select).resolve(graph)
    except Exception as exc:  # Dagster raises several types for a bad expression or unknown key
        raise RunSelectionError(
            f"--select {select!r}: {exc}. Use Dagster's selection syntax, e.g. 'key:\"warehouse/ledger_mirror\"+' or "
            "'group:reports'; `subledger run --help` lists the asset keys."
        ) from exc
    keys = chosen & materializable
    if not keys:
        raise RunSelectionError(f"--select {select!r} selects no asset that can be materialised.")
    return keys


def plan_stages(defs: dg.Definitions, keys: Iterable[dg.AssetKey]) -> list[Stage]:
    """Cut ``keys`` into stages, in an order that respects every dependency among them.

    A dependency between assets of different partitions definitions needs a stage boundary;
    one between assets of the same definition does not. Stages are as few as the boundaries
    allow, and every asset runs as *late* as they allow: the assets of one multi-asset (the dbt
    project) then land in one stage with what they depend on already built, so a dbt test that
    spans several models runs after all of them.
    """
    graph = defs.resolve_asset_graph()
    selected = set(keys)
    order = [key for key in graph.toposorted_asset_keys if key in selected]

    def gap(parent: dg.AssetKey, child: dg.AssetKey) -> int:
        return 0 if graph.get(parent).partitions_def == graph.get(child).partitions_def else 1

    earliest: dict[dg.AssetKey, int] = {}
    for key in order:
        parents = [p for p in graph.get(key).parent_keys if p in selected]
        earliest[key] = max((earliest[p] + gap(p, key) for p in parents), default=0)
    last = max(earliest.values(), default=0)
    level: dict[dg.AssetKey, int] = {}
    for key in reversed(order):
        children = [c for c in graph.get(key).child_keys if c in selected]
        level[key] = min((level[c] - gap(key, c) for c in children), default=last)
    groups: dict[tuple[int, int], list[dg.AssetKey]] = {}
    definitions: list[dg.PartitionsDefinition | None] = []
    for key in order:
        own = graph.get(key).partitions_def
        index = next((i for i, d in enumerate(definitions) if d == own), None)
        if index is None:
            definitions.append(own)
            index = len(definitions) - 1
        groups.setdefault((level[key], index), []).append(key)
    return [Stage(tuple(groups[g]), definitions[g[1]]) for g in sorted(groups)]


def landed_file_keys(settings: Settings) -> list[str]:
    """The partition key of every complete file in the landing folder, in path order."""
    root = settings.landing_dir
    if not root.is_dir():
        return []
    return [partition_key_for(str(path.relative_to(root)), file_hash(path)) for path in landed_files([root])]


def _dynamic_partitions(stage: Stage, instance: dg.DagsterInstance, settings: Settings) -> list[str]:
    if stage.partitions_def != landed_files_partitions:
        raise RunSelectionError(f"no rule for choosing partitions of {stage.kind}; pass --partition.")
    keys = landed_file_keys(settings)
    known = set(instance.get_dynamic_partitions(landed_files_partitions.name))
    new = [k for k in keys if k not in known]
    if new:
        instance.add_dynamic_partitions(landed_files_partitions.name, new)
    done: set[str] | None = None
    for asset in stage.keys:
        materialized = set(instance.get_materialized_partitions(asset))
        done = materialized if done is None else done & materialized
    return [k for k in keys if k not in (done or set())]


def _daily_partitions(stage: Stage, settings: Settings) -> list[str]:
    today = datetime.now(settings.tz).date()
    with open_work(settings.warehouse_work_path) as conn:
        days = days_to_build(conn, settings.start_date, today, start=settings.start_date, tz=settings.timezone)
    return [d.isoformat() for d in days]


def _accepts(stage: Stage, key: str, instance: dg.DagsterInstance) -> bool:
    partitions_def = stage.partitions_def
    if partitions_def is None:
        return False
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return instance.has_dynamic_partition(partitions_def.name, key)
    try:
        return partitions_def.has_partition_key(key)
    except Exception:
        return False


def _register_landed_partition(key: str, instance: dg.DagsterInstance, settings: Settings) -> None:
    """A landed-file key given with --partition that names a current file but is not registered yet."""
    if key in landed_file_keys(settings) and not instance.has_dynamic_partition(landed_files_partitions.name, key):
        instance.add_dynamic_partitions(landed_files_partitions.name, [key])


def _materialize(
    defs: dg.Definitions,
    stage: Stage,
    instance: dg.DagsterInstance,
    *,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    assets = [*(defs.assets or []), *(defs.asset_checks or [])]
    return dg.materialize(
        assets,
        selection=dg.AssetSelection.assets(*stage.keys),
        resources=dict(defs.resources or {}),
        instance=instance,
        partition_key=partition_key,
        tags={RUN_SOURCE_TAG: "subledger run", **(tags or {})},
        run_config=QUIET_RUN_CONFIG,
        raise_on_error=False,
    )


def _outcome(stage: Stage, partitions: Sequence[str], result: dg.ExecuteInProcessResult, seconds: float) -> RunOutcome:
    failed_checks = [
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    failed_steps = [event.step_key or "?" for event in result.all_events if event.is_step_failure]
    return RunOutcome(stage, tuple(partitions), result.run_id, result.success, seconds, failed_checks, failed_steps)


def run_stages(
    defs: dg.Definitions,
    stages: Sequence[Stage],
    instance: dg.DagsterInstance,
    settings: Settings,
    *,
    partition: str | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> PipelineReport:
    """Execute ``stages`` in order; stop after the first stage with a failed run or ERROR check."""
    report = PipelineReport()
    if partition is not None:
        _register_landed_partition(partition, instance, settings)
        if not any(_accepts(stage, partition, instance) for stage in stages):
            kinds = sorted({stage.kind for stage in stages if stage.partitions_def is not None}) or ["none"]
            raise RunSelectionError(
                f"--partition {partition!r} is not a partition of any selected asset (partitioned: {', '.join(kinds)}). "
                "Daily partitions are YYYY-MM-DD from SUBLEDGER_START_DATE through today; landed-file partitions are "
                "<path>@<hash12> (see the Dagster UI, or drop the option)."
            )
    for number, stage in enumerate(stages, 1):
        prefix = f"[{number}/{len(stages)}]"
        if report.failures():
            report.skipped.append((stage, "an earlier stage failed"))
            progress(f"{prefix} skipped {stage.label}: an earlier stage failed")
            continue
        runs: list[tuple[str | None, dict[str, str], tuple[str, ...]]]
        if partition is not None and stage.partitions_def is not None:
            if not _accepts(stage, partition, instance):
                report.skipped.append((stage, f"not partitioned by {partition!r}"))
                continue
            runs = [(partition, {}, (partition,))]
        elif stage.partitions_def is None:
            runs = [(None, {}, ())]
        elif isinstance(stage.partitions_def, dg.DynamicPartitionsDefinition):
            keys = _dynamic_partitions(stage, instance, settings)
            runs = [(key, {}, (key,)) for key in keys]
        else:
            days = _daily_partitions(stage, settings)
            runs = [(None, {RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1]}, (days[0], days[-1]))] if days else []
        if not runs:
            report.skipped.append((stage, "up to date"))
            progress(f"{prefix} {stage.label}: up to date")
            continue
        for index, (partition_key, tags, partitions) in enumerate(runs, 1):
            what = partitions[0] if len(partitions) == 1 else "..".join(partitions) if partitions else ""
            counter = f" {index}/{len(runs)}" if len(runs) > 1 else ""
            progress(f"{prefix}{counter} {stage.label}{' [' + what + ']' if what else ''} ...")
            started = time.monotonic()
            result = _materialize(defs, stage, instance, partition_key=partition_key, tags=tags)
            outcome = _outcome(stage, partitions, result, time.monotonic() - started)
            report.runs.append(outcome)
            state = "ok" if outcome.ok else "FAILED"
            detail = ""
            if outcome.failed_checks:
                detail += f"; failed checks: {', '.join(outcome.failed_checks)}"
            if outcome.failed_steps:
                detail += f"; failed steps: {', '.join(outcome.failed_steps)}"
            progress(f"{prefix}{counter} {state} in {outcome.seconds:.1f}s (run {outcome.run_id[:8]}){detail}")
            if not outcome.ok:
                break
    return report

