"""``subledger up`` / ``subledger down``: the embedded Postgres."""

from __future__ import annotations

import click

from ledger_pipelines.cli.common import dsns_or_exit, emit_json, settings_or_exit, user_errors
from ledger_pipelines.config import redact_url
from ledger_pipelines.postgres.cluster import EmbeddedCluster


@click.command()
@click.option("--json", "as_json", is_flag=True,
              help='Print {"dsn", "reader_dsn", "writer_dsn"} as JSON, passwords included (for scripts).')
def up(as_json: bool) -> None:
    """Start the embedded Postgres if needed (idempotent) and apply migrations.

    With SUBLEDGER_DATABASE_URL set, only the migrations run, against that server. The
    connection strings are shown with their passwords masked; `subledger up --json` prints them
    whole, for a script to use.
    """
    settings = settings_or_exit()
    dsns = dsns_or_exit(settings)
    if as_json:
        emit_json(dsns.as_public_json())
        return
    where = "external server" if settings.database_url else f"embedded Postgres under {settings.postgres_dir}"
    click.echo(f"Ledger database ready ({where}).")
    click.echo(f"  owner:  {redact_url(dsns.dsn)}\n  writer: {redact_url(dsns.writer_dsn)}\n"
               f"  reader: {redact_url(dsns.reader_dsn)}")
    click.echo("Passwords are masked; `subledger up --json` prints the full connection strings.")


@click.command()
def down() -> None:
    """Stop the embedded Postgres; its data is kept for the next `subledger up`."""
    settings = settings_or_exit()
    if settings.database_url:
        click.echo("SUBLEDGER_DATABASE_URL points at an external server; there is no embedded Postgres to stop.")
        return
    with user_errors():
        stopped = EmbeddedCluster(settings).down()
    click.echo("Embedded Postgres stopped." if stopped else "Embedded Postgres was not running.")


COMMANDS = [up, down]
