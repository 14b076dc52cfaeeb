"""``subledger dev``: the Dagster UI and daemon on the local, Postgres-backed instance."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import click

from ledger_pipelines.cli.common import dsns_or_exit, fail, settings_or_exit
from ledger_pipelines.platform.dev import (
    DEFAULT_PORT,
    STARTUP_TIMEOUT,
    DagsterDev,
    describe_storage,
    port_is_free,
    project_workspace,
)
from ledger_pipelines.platform.instance import (
    DAGSTER_DATABASE_URL_ENV,
    dagster_environment,
    fail_runs_of_stopped_daemon,
    instance_for,
)


@click.command()
@click.option("--port", "-p", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port of the Dagster UI (bound to 127.0.0.1 only).")
@click.option("--workspace", "workspace", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A workspace.yaml to load instead of the project's (e.g. with an extra code location).")
@click.option("--log-format", type=click.Choice(["colored", "json"]), default="colored", show_default=True,
              help="Format of the webserver's and daemon's own logs.")
def dev(port: int, workspace: Path | None, log_format: str) -> None:
    """Start the Dagster UI and daemon on the local instance; Ctrl-C stops both.

    Starts the embedded Postgres if needed (or uses SUBLEDGER_DATABASE_URL), writes the instance
    configuration to $SUBLEDGER_HOME/dagster/dagster.yaml (run, event-log and schedule storage in
    Postgres), then serves the UI on http://127.0.0.1:PORT. The daemon runs the landing-folder
    sensor, the schedules, the run queue and the concurrency pools.
    """
    settings = settings_or_exit()
    if not port_is_free(port):
        fail(f"port {port} on 127.0.0.1 is in use; pick another with `subledger dev --port N`.", 2)
    click.echo("Starting Postgres and preparing the Dagster instance ...", err=True)
    dsns = dsns_or_exit(settings)
    environment = dagster_environment(settings, dsns)
    try:
        instance = instance_for(settings, dsns)
        instance.dispose()
    except Exception as exc:  # the instance storage is unreachable or misconfigured
        fail(f"could not open the Dagster instance in {settings.dagster_home}: {exc}", 1)

    stop = threading.Event()

    def request_stop(signum, _frame) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = DagsterDev(workspace or project_workspace(settings), port, {**os.environ, **environment}, log_format=log_format)
    server.start()
    code = 0
    try:
        try:
            ready = server.wait_ready(STARTUP_TIMEOUT, stop)
        except TimeoutError as exc:
            fail(f"{exc}; see the log lines above.", 1)
        if ready:
            click.echo(f"Dagster UI: {server.url}")
            click.echo(
                f"instance: {settings.dagster_home} (storage: Postgres {describe_storage(environment[DAGSTER_DATABASE_URL_ENV])}); "
                f"landing folder watched by the daemon: {settings.landing_dir}. Press Ctrl-C to stop.",
                err=True,
            )
        while not stop.is_set() and server.running():
            stop.wait(0.5)
        if not stop.is_set():
            code = 1
            click.echo(f"error: dagster dev exited unexpectedly (exit code {server.process.returncode}); see the log lines above.", err=True)
    finally:
        click.echo("Stopping the Dagster webserver and daemon ...", err=True)
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _fail_interrupted_runs(settings, dsns)
    if code == 0:
        click.echo("Stopped.", err=True)
    raise SystemExit(code)


def _fail_interrupted_runs(settings, dsns) -> None:
    """Runs the daemon had in progress died with `dagster dev`'s process group: say so, free their slots."""
    try:
        instance = instance_for(settings, dsns)
        try:
            failed = fail_runs_of_stopped_daemon(instance)
        finally:
            instance.dispose()
    except Exception as exc:  # stopping must not fail on bookkeeping; the next `subledger run` frees slots too
        click.echo(f"warning: could not mark the interrupted runs failed: {exc}", err=True)
        return
    for run_id in failed:
        click.echo(f"run {run_id[:8]} was in progress: marked failed and its pool slots freed; `subledger run` "
                   "finishes its work.", err=True)


COMMANDS = [dev]
