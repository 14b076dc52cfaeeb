"""``subledger``: the command line of interfaces.md.

Each command group lives in its own module and is registered in :data:`COMMAND_MODULES`.
Exit codes: 0 success, 1 failed check, rejected input or runtime failure (e.g. the database cannot
be reached), 2 usage error (click's own, and invalid settings).
"""

from __future__ import annotations

import importlib

import click

COMMAND_MODULES = [
    "ledger_pipelines.cli.database",
    "ledger_pipelines.cli.balances",
    "ledger_pipelines.cli.periods",
    "ledger_pipelines.cli.ingest",
    "ledger_pipelines.cli.platform",
    "ledger_pipelines.cli.generate",
    "ledger_pipelines.cli.warehouse",
    "ledger_pipelines.cli.pipeline",
    "ledger_pipelines.cli.register",
    "ledger_pipelines.cli.sql",
    "ledger_pipelines.cli.service",
]


class SubledgerGroup(click.Group):
    """The ``subledger`` group: turns the known failures of every command into one clear message.

    Expected failures (database unreachable, invalid setting, unusable path; see
    :func:`ledger_pipelines.cli.common.known_error`) print ``error: ...`` on stderr with the exit
    code of interfaces.md. Anything else is a bug and keeps its traceback.
    """

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


for _module in COMMAND_MODULES:
    for _command in importlib.import_module(_module).COMMANDS:
        main.add_command(_command)
