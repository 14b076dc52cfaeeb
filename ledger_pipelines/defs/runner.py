"""``subledger run``: materialise the asset graph (or a selection) in process, checks included.

Dagster runs one partitions definition per run, so the selection is cut into **stages**: assets in
topological order, grouped so that every stage holds assets of one partitions definition whose
selected upstream assets are all in earlier stages (or in the same stage, with the same
definition). Each stage then becomes runs on the platform's own Dagster instance (Postgres-backed,
so they appear in the UI):

* **landed files** (dynamic partitions, one per file): the landing folder is scanned as the sensor
  does; every current file whose partition has not been materialised yet gets its own run, in
  path order (a file is one batch, one database transaction);
* **unpartitioned** (the outbox, the mirror, the snapshots, the reports and their exports): ONE
  run of what is stale and everything downstream of it, judged as the freshness sensor judges it
  (``ledger_pipelines.warehouse.freshness``) -- so a run after an interruption rebuilds exactly
  what the interruption left behind, and a run with nothing new says "up to date". An explicit
  ``--select`` runs what it selects, stale or not; ``--rebuild-from DAY`` recomputes the
  snapshots from that day.

``--partition KEY`` replaces that choice in the stages whose partitions definition has the key;
unpartitioned stages still run; other partitioned stages are skipped. A stage fails when its run
fails or an ERROR-severity check fails; later stages are then not started (they would read what
failed) and the report says so.

Stage planning (:func:`plan_stages`) is pure over the asset graph; execution
(:func:`run_stages`) needs an instance and the loaded definitions.
"""

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
from dagster._core.utils import make_new_run_id

from ledger_pipelines.config import Settings
from ledger_pipelines.defs.ingestion.outbox import pending_outbox_rows
from ledger_pipelines.defs.ingestion.partitions import landed_files_partitions, partition_key_for
from ledger_pipelines.defs.warehouse.assets import ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY, MIRROR_KEY, OUTBOX_BATCHES
from ledger_pipelines.ingest.ingestor import already_ingested_files, landed_files
from ledger_pipelines.ingest.landing import FileIdentity, identify
from ledger_pipelines.platform.instance import (
    DUCKDB_POOL,
    RUN_HOST_TAG,
    RUN_PID_TAG,
    free_orphaned_pool_slots,
    pool_holders,
)

RUN_SOURCE_TAG = "subledger/launched_by"
INGEST_FILES_JOB = "ingest_landed_files"
SUBLEDGER_RUN_JOB = "subledger_run"
WAIT_NOTE_SECONDS = 10.0
REPORTS_PREFIX = "reports"
SNAPSHOT_OPS = ("warehouse__account_balance_snapshots", "warehouse__category_balance_snapshots")

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
        return type(self.partitions_def).__name__

    @property
    def label(self) -> str:
        names = [key.to_user_string() for key in self.keys]
        return ", ".join(names) if len(names) <= 4 else f"{', '.join(names[:3])} and {len(names) - 3} more"


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
            "'group:reports'; `subledger run --list` lists the asset keys."
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


def _landed(settings: Settings) -> list[tuple[str, FileIdentity]]:
    """(partition key, identity) of every complete file in the landing folder, in path order."""
    root = settings.landing_dir
    if not root.is_dir():
        return []
    identities = [identify(path, root) for path in landed_files([root])]
    return [(partition_key_for(str(i.path.relative_to(root)), i.content_hash), i) for i in identities]


def landed_file_keys(settings: Settings) -> list[str]:
    """The partition key of every complete file in the landing folder, in path order."""
    return [key for key, _ in _landed(settings)]


def _dynamic_partitions(stage: Stage, instance: dg.DagsterInstance, settings: Settings) -> list[str]:
    """The landed files that still need a run: those whose content no file batch has claimed yet --
    the landing sensor's rule (:func:`~ledger_pipelines.ingest.ingestor.already_ingested_files`),
    so a file ingested any other way (``subledger ingest``, the sensor's run) is not run again."""
    if stage.partitions_def != landed_files_partitions:
        raise RunSelectionError(f"no rule for choosing partitions of {stage.kind}; pass --partition.")
    landed = _landed(settings)
    known = set(instance.get_dynamic_partitions(landed_files_partitions.name))
    new = [key for key, _ in landed if key not in known]
    if new:
        instance.add_dynamic_partitions(landed_files_partitions.name, new)
    done = already_ingested_files(settings, [identity for _, identity in landed])
    return [key for key, identity in landed if identity.path not in done]


def stale_roots(settings: Settings, reader_dsn: str, instance: dg.DagsterInstance | None = None
                ) -> dict[dg.AssetKey | str, str]:
    """What is stale now, as the freshness sensor sees it: asset key (or ``"reports"``) -> why.

    Judged on the work file (what the next materialisation builds on) against the ledger, so what
    an interrupted run left behind is found whatever the published file says. With ``instance``,
    an outbox that was never read is read once (an empty read too), so that the assets built on
    it do not show as "Unsynced" in the UI for an upstream that never ran.
    """
    from ledger_pipelines.warehouse import freshness
    from ledger_pipelines.warehouse.mirror import read_state
    from ledger_pipelines.warehouse.store import open_work

    roots: dict[dg.AssetKey | str, str] = {}
    outbox, _ = pending_outbox_rows(reader_dsn)
    if outbox:
        roots[OUTBOX_BATCHES] = f"{outbox} outbox row(s) to post"
    elif instance is not None and instance.get_latest_materialization_event(OUTBOX_BATCHES) is None:
        roots[OUTBOX_BATCHES] = "the outbox has never been read"
    with open_work(settings.warehouse_work_path) as conn:
        state = read_state(conn)
        position = freshness.ledger_position(reader_dsn, state.watermark if state else None)
        statuses = freshness.assess(conn, tz=settings.timezone, start=settings.start_date, today=settings.today(),
                                    ledger=position)
    keys = {freshness.MIRROR: MIRROR_KEY, freshness.ACCOUNT_SNAPSHOTS: ACCOUNT_SNAPSHOTS_KEY,
            freshness.CATEGORY_SNAPSHOTS: CATEGORY_SNAPSHOTS_KEY, freshness.REPORTS: REPORTS_PREFIX}
    for status in statuses:
        if not status.fresh:
            roots[keys[status.product]] = status.reason
    return roots


def stale_selection(defs: dg.Definitions, stage: Stage, roots: dict[dg.AssetKey | str, str]) -> tuple[dg.AssetKey, ...]:
    """The stage's assets that are stale roots or downstream of one."""
    graph = defs.resolve_asset_graph()
    chosen: set[dg.AssetKey] = set()
    for root in roots:
        if root == REPORTS_PREFIX:
            chosen |= {k for k in stage.keys if k.path[0] == REPORTS_PREFIX and k.path[1:2] != ["exports"]}
        elif root in stage.keys:
            chosen.add(root)
    frontier = list(chosen)
    while frontier:
        for child in graph.get(frontier.pop()).child_keys:
            if child in stage.keys and child not in chosen:
                chosen.add(child)
                frontier.append(child)
    return tuple(k for k in stage.keys if k in chosen)


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


def _job_for(defs: dg.Definitions, stage: Stage) -> dg.JobDefinition:
    """The named job a stage's runs belong to (what the UI lists them under)."""
    name = INGEST_FILES_JOB if stage.partitions_def is not None else SUBLEDGER_RUN_JOB
    return defs.resolve_job_def(name)


def _run_config(keys: Sequence[dg.AssetKey], rebuild_from: date | None) -> dict:
    if rebuild_from is None:
        return {}
    ops = {key.to_python_identifier() for key in keys}
    return {"ops": {op: {"config": {"rebuild_from": rebuild_from.isoformat()}} for op in SNAPSHOT_OPS if op in ops}}


def _terminate_children() -> None:
    """SIGTERM the processes this process started (a dbt build), so none outlives an interrupted run."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            try:
                os.kill(int(stat.parent.name), signal.SIGTERM)
            except OSError:
                pass


def _abandon(instance: dg.DagsterInstance, run_id: str, signo: int, progress: Callable[[str], None]) -> None:
    """Stop at once on Ctrl-C or SIGTERM: cancel the run, free its pool slots, stop child processes.

    What the run was writing is left as a crash leaves it, which every write path tolerates: the
    ledger's batches are single database transactions, the DuckDB work file rolls back to its
    last commit, and the warehouse's build records make the next run redo exactly what is missing.
    """
    name = signal.Signals(signo).name
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceled(run, message=f"subledger run received {name}: run canceled, pool slots freed")
    _terminate_children()
    _free_slots_for_good(instance, run_id)
    progress(f"interrupted ({name}): run {run_id[:8]} canceled and its pool slots freed; run `subledger run` again "
             "to finish the work (it redoes exactly what is missing).")


def _free_slots_for_good(instance: dg.DagsterInstance, run_id: str, *, rounds: int = 6, pause: float = 0.25) -> None:
    """Free ``run_id``'s pool slots, and again if the run's worker thread, still alive until the
    process exits, claimed one meanwhile (its claim may have been on the wire while we freed)."""
    storage = instance.event_log_storage
    storage.free_concurrency_slots_for_run(run_id)
    for _ in range(rounds):
        time.sleep(pause)
        info = storage.get_concurrency_info(DUCKDB_POOL)
        if run_id not in info.active_run_ids | info.pending_run_ids:
            return
        storage.free_concurrency_slots_for_run(run_id)


def _execute(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    *,
    keys: Sequence[dg.AssetKey],
    partition_key: str | None,
    run_config: dict,
    progress: Callable[[str], None],
) -> dg.ExecuteInProcessResult:
    """Run ``job`` (the ``keys`` of it) in process, answering Ctrl-C / SIGTERM within a second.

    Dagster's in-process executor only looks at interrupts between steps and never while a step
    waits for a pool slot, so the run goes on in a worker thread while this thread watches for
    signals and, every :data:`WAIT_NOTE_SECONDS`, says what the run waits for.
    """
    run_id = make_new_run_id()
    tags = {RUN_SOURCE_TAG: "subledger run", RUN_PID_TAG: str(os.getpid()), RUN_HOST_TAG: socket.gethostname()}
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                run_config={**QUIET_RUN_CONFIG, **run_config}, instance=instance, partition_key=partition_key,
                asset_selection=list(keys), run_id=run_id, tags=tags, raise_on_error=False,
            )
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    received: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, lambda signo, _frame: received.append(signo)) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    thread = threading.Thread(target=work, name="subledger-run", daemon=True)
    try:
        thread.start()
        noted = time.monotonic()
        while thread.is_alive():
            thread.join(timeout=0.5)
            if received:
                _abandon(instance, run_id, received[0], progress)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(128 + received[0])
            if thread.is_alive() and time.monotonic() - noted >= WAIT_NOTE_SECONDS:
                noted = time.monotonic()
                holders = pool_holders(instance, run_id)
                if holders:
                    progress(f"    waiting: {'; '.join(holders)} (Ctrl-C stops; docs/operations.md, 'A run waits for a pool slot')")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


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
    reader_dsn: str,
    partition: str | None = None,
    explicit: bool = False,
    rebuild_from: date | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> PipelineReport:
    """Execute ``stages`` in order; stop after the first stage with a failed run or ERROR check.

    ``explicit``: the caller selected the assets (``--select``): unpartitioned stages run what is
    selected, stale or not. Otherwise they run what is stale and what is downstream of it.
    """
    report = PipelineReport()
    for run_id, why in free_orphaned_pool_slots(instance):
        progress(f"freed the pool slots of run {run_id[:8]}: {why}")
    if partition is not None:
        _register_landed_partition(partition, instance, settings)
        if not any(_accepts(stage, partition, instance) for stage in stages):
            kinds = sorted({stage.kind for stage in stages if stage.partitions_def is not None}) or ["none"]
            raise RunSelectionError(
                f"--partition {partition!r} is not a partition of any selected asset (partitioned: {', '.join(kinds)}). "
                "Landed-file partitions are <path>@<hash12> (see the Dagster UI, or drop the option); the snapshots "
                "have no partitions (use --rebuild-from YYYY-MM-DD to recompute them from a day)."
            )
    for number, stage in enumerate(stages, 1):
        prefix = f"[{number}/{len(stages)}]"
        if report.failures():
            report.skipped.append((stage, "an earlier stage failed"))
            progress(f"{prefix} skipped {stage.label}: an earlier stage failed")
            continue
        runs: list[tuple[str | None, tuple[dg.AssetKey, ...]]]
        if partition is not None and stage.partitions_def is not None:
            if not _accepts(stage, partition, instance):
                report.skipped.append((stage, f"not partitioned by {partition!r}"))
                continue
            runs = [(partition, stage.keys)]
        elif stage.partitions_def is not None:
            runs = [(key, stage.keys) for key in _dynamic_partitions(stage, instance, settings)]
        elif explicit or rebuild_from is not None:
            runs = [(None, stage.keys)]
        else:
            roots = stale_roots(settings, reader_dsn, instance)
            chosen = stale_selection(defs, stage, roots)
            runs = [(None, chosen)] if chosen else []
            for root, why in roots.items():
                progress(f"{prefix} stale: {root if isinstance(root, str) else root.to_user_string()}: {why}")
        if not runs:
            report.skipped.append((stage, "up to date"))
            progress(f"{prefix} {stage.label}: up to date")
            continue
        job = _job_for(defs, stage)
        for index, (partition_key, keys) in enumerate(runs, 1):
            counter = f" {index}/{len(runs)}" if len(runs) > 1 else ""
            label = Stage(keys, stage.partitions_def).label
            progress(f"{prefix}{counter} {label}{' [' + partition_key + ']' if partition_key else ''} ...")
            started = time.monotonic()
            result = _execute(job, instance, keys=keys, partition_key=partition_key,
                              run_config=_run_config(keys, rebuild_from), progress=progress)
            outcome = _outcome(stage, (partition_key,) if partition_key else (), result, time.monotonic() - started)
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
