"""The Dagster instance every local process shares: ``$SUBLEDGER_HOME/dagster``.

``prepare_dagster_home(settings)`` writes ``dagster.yaml``; ``dagster_environment(settings)`` gives
the variables a Dagster process (webserver, daemon, code server, run worker, or an in-process
``subledger run``) needs to open that instance. The instance keeps its runs, event log and
schedule/sensor state in Postgres (dagster-postgres), in the database ``subledger_dagster`` of the
same server as the ledger.

Rules the configuration encodes (docs/operations.md explains them to operators):

* **Secrets only from the environment.** ``dagster.yaml`` names the variable
  ``SUBLEDGER_DAGSTER_DATABASE_URL`` and never holds a URL or password; the value is handed to
  child processes in their environment only.
* **One DuckDB writer at a time.** Every op that opens the warehouse work file for writing runs in
  the Dagster pool ``duckdb_warehouse`` (``@asset(pool=DUCKDB_POOL)``). Pools are enforced per op
  (``granularity: op``): at most ``POOL_LIMITS[pool]`` steps of *all* runs on the instance hold a
  slot at once, also between the processes of one multi-process run. Unconfigured pools default
  to a limit of 1, and :func:`initialise_instance` pins the configured limits, so a pool is never
  unbounded by accident. Slots of a run worker that died are freed by run monitoring.
* **Run retries** for crashed run workers (killed process, lost node); asset and op failures are
  retried by the assets' own retry policies, not by re-running the whole run.
* **Telemetry off.**

Nothing here imports Dagster at module import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ledger_pipelines.config import Settings

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from ledger_pipelines.postgres.cluster import Dsns

#: The variable holding the instance storage's Postgres URL (with password). Set it yourself to
#: use another server; otherwise :func:`dagster_environment` takes the embedded cluster's.
DAGSTER_DATABASE_URL_ENV = "SUBLEDGER_DAGSTER_DATABASE_URL"

#: The pool of every op that writes the DuckDB warehouse work file (and of checks that open it).
DUCKDB_POOL = "duckdb_warehouse"

#: Pool limits pinned on the instance at start-up (an operator cannot raise them by accident).
POOL_LIMITS: dict[str, int] = {DUCKDB_POOL: 1}

#: Runs in progress at once (queued beyond that). Pools, not this number, protect DuckDB.
MAX_CONCURRENT_RUNS = 8

#: Seconds a Dagster process waits for the code server (starting a run loads the code location).
GRPC_TIMEOUT_SECONDS = 300

#: The code location name in workspace.yaml and in the Helm values.
CODE_LOCATION = "subledger"

#: Python loggers whose records Dagster captures into the run's event log (with its run id).
MANAGED_LOGGERS = ["ledger_pipelines"]

#: ``python_logs.dagster_handler_config``: every run's log records also go to
#: :class:`ledger_pipelines.logging.DagsterRunLogHandler` (structured lines on stderr with run id,
#: step and partition when ``SUBLEDGER_LOG_FORMAT`` is set; silent otherwise).
DAGSTER_HANDLER_CONFIG: dict[str, Any] = {
    "handlers": {"subledger_structured": {"()": "ledger_pipelines.logging.DagsterRunLogHandler", "level": "INFO"}},
}

CONFIG_HEADER = """\
# Dagster instance of subledger. Written by ledger_pipelines/platform/instance.py on every
# `subledger dev` / `subledger run` / `subledger demo`; edits here are overwritten.
# Secrets are never stored here: the storage URL is read from ${var} at run time.
"""


#: The run, event-log and schedule storages: dagster-postgres's, with one kept connection per
#: process instead of a new connection per event (ledger_pipelines/platform/storage.py).
STORAGE_CLASSES = {
    "run_storage": "PooledPostgresRunStorage",
    "event_log_storage": "PooledPostgresEventLogStorage",
    "schedule_storage": "PooledPostgresScheduleStorage",
}


def instance_config() -> dict[str, Any]:
    """The ``dagster.yaml`` document (a dict), identical for every home."""
    storage_config = {"postgres_url": {"env": DAGSTER_DATABASE_URL_ENV}}
    return {
        **{
            storage: {"module": "ledger_pipelines.platform.storage", "class": name, "config": storage_config}
            for storage, name in STORAGE_CLASSES.items()
        },
        # The run queue (QueuedRunCoordinator, the default); the daemon dequeues every 2 s.
        "run_queue": {
            "dequeue_interval_seconds": 2,
            "max_user_code_failure_retries": 2,
            "user_code_failure_retry_delay": 10,
        },
        "concurrency": {
            "pools": {"granularity": "op", "default_limit": 1},
            "runs": {"max_concurrent_runs": MAX_CONCURRENT_RUNS},
        },
        "run_monitoring": {
            "enabled": True,
            "start_timeout_seconds": 300,
            "poll_interval_seconds": 30,
            # A run worker that died must not keep the DuckDB pool slot forever.
            "free_slots_after_run_end_seconds": 30,
        },
        "run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False},
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
        "python_logs": {
            "python_log_level": "INFO",
            "managed_python_loggers": MANAGED_LOGGERS,
            "dagster_handler_config": DAGSTER_HANDLER_CONFIG,
        },
        "code_servers": {"local_startup_timeout": 300},
        "sensors": {"use_threads": True, "num_workers": 4},
        "schedules": {"use_threads": True, "num_workers": 4},
    }


def render_instance_yaml() -> str:
    return CONFIG_HEADER.replace("${var}", DAGSTER_DATABASE_URL_ENV) + yaml.safe_dump(
        instance_config(), sort_keys=False, default_flow_style=False
    )


def prepare_dagster_home(settings: Settings) -> Path:
    """Create ``$SUBLEDGER_HOME/dagster`` and (re)write its ``dagster.yaml``; return the folder.

    Idempotent; the file is replaced atomically so a process starting meanwhile never reads half
    of it. Holds no secret (see :data:`DAGSTER_DATABASE_URL_ENV`).
    """
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    text = render_instance_yaml()
    if not target.exists() or target.read_text() != text:
        tmp = target.with_suffix(".yaml.tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        tmp.replace(target)
    return home


def sqlalchemy_postgres_url(url: str) -> str:
    """``url`` with the psycopg2 driver named, as dagster-postgres needs.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, whose server-side parameters
    break dagster-postgres (``NOTIFY run_events, $1``); ``postgresql+psycopg2://`` does not.
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg2://" + rest
    return url


def dagster_environment(settings: Settings, dsns: Dsns | None = None) -> dict[str, str]:
    """The variables a Dagster process needs to open this platform's instance and settings.

    Merge them over ``os.environ`` for child processes, or ``os.environ.update(...)`` before an
    in-process run. The storage URL comes from ``SUBLEDGER_DAGSTER_DATABASE_URL`` if it is set,
    else from ``dsns`` (or :func:`~ledger_pipelines.postgres.database.ensure_database`, which starts
    and migrates the embedded cluster when ``SUBLEDGER_DATABASE_URL`` is unset). Path settings
    are passed resolved, so a child with another working directory sees the same files.
    """
    url = os.environ.get(DAGSTER_DATABASE_URL_ENV)
    if not url:
        if dsns is None:
            from ledger_pipelines.postgres.database import ensure_database

            dsns = ensure_database(settings)
        url = dsns.dagster_dsn
    return {
        "DAGSTER_HOME": str(settings.dagster_home),
        DAGSTER_DATABASE_URL_ENV: sqlalchemy_postgres_url(url),
        "SUBLEDGER_HOME": str(settings.home),
        "SUBLEDGER_DUCKDB_PATH": str(settings.duckdb_path),
        "SUBLEDGER_LANDING_DIR": str(settings.landing_dir),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        # The daemon's call that starts a run waits until the run's process has loaded the code
        # location. Dagster gives up after 60 s and re-queues the run -- on a busy 2-core machine
        # that started a second process for the same run while the first went on. 5 minutes is the
        # code server's own start-up allowance (code_servers.local_startup_timeout).
        "DAGSTER_GRPC_TIMEOUT_SECONDS": str(GRPC_TIMEOUT_SECONDS),
    }


def initialise_instance(instance: DagsterInstance) -> None:
    """Make sure the storage tables exist and pin :data:`POOL_LIMITS` on the instance.

    Opening the instance creates missing tables; doing it once before starting several Dagster
    processes on a fresh database keeps them from racing to create the same tables. After a
    Dagster upgrade, run ``dagster instance migrate`` (docs/operations.md).
    """
    instance.get_runs_count()
    storage = instance.event_log_storage
    current = {pool.name: pool for pool in storage.get_pool_limits()}
    for pool, limit in POOL_LIMITS.items():
        existing = current.get(pool)
        if existing is None or existing.limit != limit or existing.from_default:
            storage.set_concurrency_slots(pool, limit)


def instance_for(settings: Settings, dsns: Dsns | None = None) -> DagsterInstance:
    """Prepare the home, export :func:`dagster_environment` into ``os.environ`` and open the instance.

    For in-process use (``subledger run``, tests). The caller owns the returned instance
    (``with instance_for(s) as instance: ...`` disposes its connections).
    """
    from dagster import DagsterInstance

    home = prepare_dagster_home(settings)
    os.environ.update(dagster_environment(settings, dsns))
    instance = DagsterInstance.from_config(str(home))
    initialise_instance(instance)
    return instance


#: Run tags that let a later process tell whether the process running an in-process run is alive.
RUN_PID_TAG = "subledger/pid"
RUN_HOST_TAG = "subledger/host"
#: A daemon whose last heartbeat is older than this is gone (Dagster's daemons beat every 30 s).
DAEMON_GONE_SECONDS = 120.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def daemon_alive(instance: DagsterInstance, within_seconds: float = DAEMON_GONE_SECONDS) -> bool:
    """Whether a Dagster daemon of this instance (``subledger dev``) beat recently."""
    import time

    beats = instance.get_daemon_heartbeats()
    return any(time.time() - beat.timestamp < within_seconds for beat in beats.values())


def run_is_orphaned(instance: DagsterInstance, run_id: str) -> str | None:
    """Why the run holding a pool slot can no longer be running (None if it may be).

    Finished runs are orphaned. A run started by ``subledger run`` carries its process id and host:
    when that process is gone, so is the run. A run launched by the daemon runs in a child of
    ``subledger dev``; with no daemon heartbeat for :data:`DAEMON_GONE_SECONDS`, ``subledger dev``
    (and with it the run's process group) is gone.
    """
    import socket

    run = instance.get_run_by_id(run_id)
    if run is None:
        return "the run no longer exists"
    if run.is_finished:
        return f"the run ended ({run.status.value})"
    pid, host = run.tags.get(RUN_PID_TAG), run.tags.get(RUN_HOST_TAG)
    if pid and host == socket.gethostname():
        return None if _pid_alive(int(pid)) else f"its process {pid} is gone"
    if not pid and not daemon_alive(instance):
        return "it was launched by the daemon, and no daemon has run for two minutes"
    return None


def free_orphaned_pool_slots(instance: DagsterInstance) -> list[tuple[str, str]]:
    """Free the pool slots held by runs that cannot be running any more; mark such runs failed.

    Run monitoring frees them only while ``subledger dev``'s daemon runs; without it a slot left
    by a killed run would block every later run for ever. Returns ``(run_id, why)`` per run freed.
    """
    storage = instance.event_log_storage
    freed: list[tuple[str, str]] = []
    for pool in POOL_LIMITS:
        info = storage.get_concurrency_info(pool)
        holders = {slot.run_id for slot in info.claimed_slots} | {step.run_id for step in info.pending_steps}
        for run_id in sorted(holders):
            why = run_is_orphaned(instance, run_id)
            if why is None:
                continue
            run = instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                instance.report_run_failed(run, f"marked failed by subledger: {why}; its pool slots were freed")
            storage.free_concurrency_slots_for_run(run_id)
            freed.append((run_id, why))
    return freed


def fail_runs_of_stopped_daemon(instance: DagsterInstance) -> list[str]:
    """After ``subledger dev`` stopped (its process group, run workers included, is gone): mark the
    runs the daemon had started failed and free their pool slots, so nothing waits for them.

    Runs started by ``subledger run`` (they carry :data:`RUN_PID_TAG`) are left alone; queued runs
    stay queued and start with the next ``subledger dev``. Returns the run ids marked failed.
    """
    from dagster import DagsterRunStatus, RunsFilter

    running = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]))
    failed = []
    for run in running:
        if RUN_PID_TAG in run.tags:
            continue
        instance.report_run_failed(run, "subledger dev stopped while this run was in progress; launch it again "
                                        "(its work is redone exactly once: see docs/operations.md)")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    return failed


def pool_holders(instance: DagsterInstance, run_id: str) -> list[str]:
    """If ``run_id`` waits for a pool slot: who holds the slots it waits for (human-readable)."""
    storage = instance.event_log_storage
    out = []
    for pool in POOL_LIMITS:
        info = storage.get_concurrency_info(pool)
        if run_id not in info.pending_run_ids:
            continue
        for holder in sorted(info.active_run_ids - {run_id}):
            run = instance.get_run_by_id(holder)
            what = f"run {holder[:8]} ({run.job_name}, {run.status.value})" if run else f"run {holder[:8]} (gone)"
            out.append(f"pool {pool} is held by {what}")
    return out
