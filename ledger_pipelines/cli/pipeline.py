"""``subledger run`` and ``subledger demo``: the asset graph, materialised in process.

Both use the platform's Dagster instance (``$SUBLEDGER_HOME/dagster``, Postgres-backed), so their
runs show up in the UI of ``subledger dev`` with the same history as the daemon's.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from typing import TextIO

import click

from ledger_pipelines.cli.common import dsns_or_exit, fail, settings_or_exit

DEMO_SUBSCRIPTIONS = 300
DEMO_MONTHS = 12
DEMO_SEED = 42


_TERMINAL: TextIO | None = None


def _terminal() -> TextIO | None:
    """The command's own stderr, kept aside: while a run executes, Dagster redirects the process's
    stderr into its compute-log file (echoed a second later by a `tail` child), so progress lines --
    and the last one before an interrupt -- are written here, at once, instead."""
    global _TERMINAL
    if _TERMINAL is None:
        try:
            _TERMINAL = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, encoding="utf-8")
        except (OSError, ValueError, io.UnsupportedOperation):  # not a real file (click's test runner)
            return None
    return _TERMINAL


def _progress(line: str) -> None:
    terminal = _terminal()
    if terminal is None:
        click.echo(line, err=True)
    else:
        terminal.write(line + "\n")


def _materialize_everything(settings, dsns, select: str | None, partition: str | None, rebuild_from=None):
    """Load the definitions with the platform's instance and run the stages; returns the report."""
    import warnings

    import dagster as dg

    from ledger_pipelines.platform.instance import instance_for

    # Dagster flags parts of its own configuration as beta; a terminal user cannot act on that.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    _terminal()  # set aside before any run redirects stderr
    instance = instance_for(settings, dsns)  # exports the Dagster environment before the defs load
    try:
        from ledger_pipelines.defs.definitions import defs
        from ledger_pipelines.defs.runner import RunSelectionError, plan_stages, resolve_selection, run_stages

        try:
            stages = plan_stages(defs, resolve_selection(defs, select))
            return run_stages(defs, stages, instance, settings, reader_dsn=dsns.reader_dsn, partition=partition,
                              explicit=select is not None, rebuild_from=rebuild_from, progress=_progress)
        except RunSelectionError as exc:
            fail(str(exc), 2)
    finally:
        instance.dispose()


def _explain_failures(report) -> None:
    for run in report.failures():
        click.echo(
            f"error: run {run.run_id} ({run.stage.label}"
            + (f" [{'..'.join(run.partitions)}]" if run.partitions else "")
            + ") failed"
            + (f": ERROR checks {', '.join(run.failed_checks)}" if run.failed_checks else "")
            + (f": steps {', '.join(run.failed_steps)}" if run.failed_steps else "")
            + ". Open the run in the Dagster UI (`subledger dev`) for its logs; `subledger verify` runs the integrity "
            "checks and docs/operations.md says what to do for each.",
            err=True,
        )
    for stage, why in report.skipped:
        if why == "an earlier stage failed":
            click.echo(f"  not run: {stage.label} ({why})", err=True)


@click.command(name="run")
@click.option("--select", "select", metavar="SELECTION",
              help="A Dagster asset selection, e.g. 'group:warehouse' or 'key:\"reports/trial_balance\"+'. Default: every asset.")
@click.option("--partition", "partition", metavar="KEY",
              help="Only this landed file (a partition <path>@<hash12>, as the Dagster UI lists them).")
@click.option("--rebuild-from", "rebuild_from", metavar="YYYY-MM-DD", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Recompute the daily snapshots from this day on even if nothing changed (a repair; what changes "
                   "is recorded in analytics.restatements).")
@click.option("--list", "list_assets", is_flag=True, help="Print every asset key (with its group) and exit.")
def run(select: str | None, partition: str | None, rebuild_from, list_assets: bool) -> None:
    """Materialise the asset graph in process, checks included.

    Stage by stage in dependency order: landed files not yet ingested (one run per file), then ONE
    run of what is stale -- the outbox, the DuckDB mirror, the daily snapshots (from the first day
    anything changed through today), the reports and their exports -- and everything downstream of
    it. With --select, what is selected runs, stale or not. Exit 1 if a run or an ERROR-severity
    check fails. Asset keys: `subledger run --list`.
    """
    if list_assets:
        from ledger_pipelines.defs.definitions import defs

        graph = defs.resolve_asset_graph()
        for key in sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
            click.echo(f"{key.to_user_string():60} group:{graph.get(key).group_name}")
        return
    settings = settings_or_exit()
    dsns = dsns_or_exit(settings)
    started = time.monotonic()
    report = _materialize_everything(settings, dsns, select, partition, rebuild_from.date() if rebuild_from else None)
    if not report.ok:
        _explain_failures(report)
        raise SystemExit(1)
    click.echo(f"{len(report.runs)} run(s) succeeded in {time.monotonic() - started:.1f}s; every ERROR check passed.", err=True)


@click.command()
@click.option("--subscriptions", default=DEMO_SUBSCRIPTIONS, show_default=True, type=click.IntRange(min=1),
              help="Subscriptions in the generated sample data.")
@click.option("--months", default=DEMO_MONTHS, show_default=True, type=click.IntRange(min=1), help="Months of sample data.")
@click.option("--seed", default=DEMO_SEED, show_default=True, type=int, help="Seed of the sample data.")
def demo(subscriptions: int, months: int, seed: int) -> None:
    """The main job on embedded defaults, end to end.

    Starts the embedded Postgres (or uses SUBLEDGER_DATABASE_URL), writes sample source events
    into the landing folder, then materialises everything -- ingestion, the DuckDB mirror,
    daily snapshots and checks, the dbt reports and their exports -- and prints where the
    reports are and a short summary. Running it again is a no-op for data already ingested.
    """
    from datetime import date

    from ledger_pipelines.generate import generate

    settings = settings_or_exit()
    started = time.monotonic()
    _progress(f"[demo] Postgres: starting or reusing the ledger database (SUBLEDGER_HOME={settings.home}) ...")
    dsns = dsns_or_exit(settings)
    today = date.today()
    # The months before the current one: the last month of the sample is complete.
    first_month = _months_before(date(today.year, today.month, 1), months)
    _progress(f"[demo] sample data: {subscriptions} subscriptions x {months} months from {first_month} "
              f"into {settings.landing_dir} ...")
    result = generate(settings.landing_dir, subscriptions=subscriptions, months=months, seed=seed, start=first_month)
    _progress(f"[demo] {result.summary()}")
    _progress("[demo] materialising the asset graph (ingestion, mirror, snapshots, checks, reports) ...")
    report = _materialize_everything(settings, dsns, None, None)
    if not report.ok:
        _explain_failures(report)
        raise SystemExit(1)
    _print_summary(settings)
    click.echo(f"\nDone in {time.monotonic() - started:.0f}s.")
    click.echo("Open the Dagster UI:     subledger dev   (then http://127.0.0.1:3000)")
    click.echo("Balances from the shell: subledger balances --category assets")
    click.echo('Warehouse (read-only):   subledger sql "SELECT * FROM reports.trial_balance_totals"')
    click.echo("An account's register:   subledger register assets:cash")
    click.echo("Quarantined events:      subledger quarantine")


def _months_before(first_of_month, count: int):
    year, month = first_of_month.year, first_of_month.month - count
    while month < 1:
        year, month = year - 1, month + 12
    return first_of_month.replace(year=year, month=month)


def _print_summary(settings) -> None:
    from ledger_pipelines.reports.summary import format_summary, summarize_file

    path: Path = settings.duckdb_path
    if not path.exists():
        fail(f"{path} was not published; see the run logs in the Dagster UI (`subledger dev`).")
    click.echo("")
    click.echo(format_summary(summarize_file(path, settings.reports_dir)))


COMMANDS = [run, demo]
