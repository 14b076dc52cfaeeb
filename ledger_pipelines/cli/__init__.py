"""``subledger``: the command line of interfaces.md.

Each command group lives in its own module and is registered in :data:`COMMAND_MODULES`.
Exit codes: 0 success, 1 failed check, rejected input or runtime failure (e.g. the database cannot
be reached), 2 usage error (click's own, and invalid settings).
"""

from __future__ import annotations

import importlib

import click

#: Every command: name -> (module of ``ledger_pipelines.cli``, attribute, the line ``subledger --help``
#: shows). A command's module is imported only when it runs or shows its own help, so the listing
#: imports no database, DuckDB, Polars or Dagster code; the line is the command's own short help
#: (``tests/unit/test_cli_commands.py`` keeps them equal).
COMMANDS: dict[str, tuple[str, str, str]] = {
    'up': ('database', 'up', 'Start the embedded Postgres if needed (idempotent) and apply migrations.'),
    'down': ('database', 'down', 'Stop the embedded Postgres; its data is kept for the next `subledger up`.'),
    'balance': ('balances', 'balance', "One account's posted, pending and available balances."),
    'balances': ('balances', 'balances', "Every account's balances (or every category's under --category)."),
    'close': ('periods', 'close', 'Close the month PERIOD (YYYY-MM, in SUBLEDGER_TIMEZONE): nothing may take effect in it afterwards.'),
    'ingest': ('ingest', 'ingest', 'Ingest source-event files (.jsonl, .jsonl.gz, .csv, .parquet; folders are searched).'),
    'quarantine': ('ingest', 'quarantine', 'List quarantined events with their reason codes (open ones unless --all).'),
    'replay': ('ingest', 'replay', 'Ingest corrected versions of quarantined events; each resolves its quarantine entry (audited).'),
    'dev': ('platform', 'dev', 'Start the Dagster UI and daemon on the local instance; Ctrl-C stops both.'),
    'generate': ('generate', 'generate', 'Write realistic sample source events (JSONL, .jsonl.gz, CSV, Parquet; ~0.1% deliberately bad).'),
    'verify': ('warehouse', 'verify', 'Run every integrity check; exit 1 if any fails.'),
    'run': ('pipeline', 'run', 'Materialise the asset graph in process, checks included.'),
    'demo': ('pipeline', 'demo', 'The main job on embedded defaults, end to end.'),
    'register': ('register', 'register', 'The entries of ACCOUNT (or, with --category, of every account under it) with the running balance.'),
    'sql': ('sql', 'sql', 'Run QUERY against the published warehouse (SUBLEDGER_DUCKDB_PATH), read-only.'),
    'serve': ('service', 'serve', 'Serve the HTTP API: event intake (asynchronous), postings (synchronous), balances, statements, transactions, quarantine, metrics.'),
    'workers': ('service', 'workers', 'Post the events waiting in the outbox with COUNT worker processes, until Ctrl-C or SIGTERM.'),
    'keys': ('service', 'keys', 'Create, list and revoke API keys (as the database owner).'),
}


class SubledgerGroup(click.Group):
    """The ``subledger`` group: turns the known failures of every command into one clear message.

    Expected failures (database unreachable, invalid setting, unusable path; see
    :func:`ledger_pipelines.cli.common.known_error`) print ``error: ...`` on stderr with the exit
    code of interfaces.md. Anything else is a bug and keeps its traceback.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        return getattr(importlib.import_module(f"ledger_pipelines.cli.{module}"), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, line) for name, (_, _, line) in sorted(COMMANDS.items())])

    def invoke(self, ctx: click.Context):
        from ledger_pipelines.cli.common import known_error

        try:
            return super().invoke(ctx)
        except Exception as exc:
            error = known_error(exc)
            if error is None:
                raise
            raise error from exc


@click.group(cls=SubledgerGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="subledger")
def main() -> None:
    """subledger: an immutable double-entry ledger for a subscription business.

    Configuration comes from SUBLEDGER_* environment variables (see README).
    """
    import os

    from ledger_pipelines.logging import configure_logging, install_secret_scrubber

    install_secret_scrubber()
    if os.environ.get("SUBLEDGER_LOG_FORMAT"):  # structured lines (json or kv) on stderr, for log shippers
        try:
            configure_logging()
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
