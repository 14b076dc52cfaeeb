"""``subledger serve``, ``subledger workers`` and ``subledger keys``: the recording service."""

from __future__ import annotations

import click

from ledger_pipelines.cli.common import dsns_or_exit, emit_json, fail, settings_or_exit, table_text
from ledger_pipelines.config import ConfigError
from ledger_pipelines.postgres.database import connect


def _service_settings(settings):
    from ledger_pipelines.service.settings import load_service_settings

    try:
        return load_service_settings(settings)
    except ConfigError as exc:
        fail(str(exc), 2)


@click.command()
@click.option("--host", help="Address to listen on (default SUBLEDGER_API_HOST, else 127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default SUBLEDGER_API_PORT, else 8480).")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes sharing the port (each with its own connection pools).")
def serve(host: str | None, port: int | None, processes: int) -> None:
    """Serve the HTTP API: event intake (asynchronous), postings (synchronous), balances, statements,
    transactions, quarantine, metrics. OpenAPI at /openapi.json, interactive docs at /docs.

    Every route but /healthz needs an API key: create one with `subledger keys create`. Events
    accepted by POST /v1/events are posted by `subledger workers` (or the Dagster outbox sensor).
    """
    import uvicorn

    settings = settings_or_exit()
    service = _service_settings(settings)
    dsns_or_exit(settings)  # start and migrate the database once, here
    host, port = host or service.api_host, port or service.api_port
    click.echo(f"subledger API on http://{host}:{port} (OpenAPI: /openapi.json, docs: /docs); Ctrl-C stops it", err=True)
    uvicorn.run("ledger_pipelines.service.api.serve:app", factory=True, host=host, port=port, workers=processes,
                log_level="warning", access_log=False, proxy_headers=False)


@click.command()
@click.option("-n", "--workers", "count", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes; each posts one batch at a time on its own connection.")
def workers(count: int) -> None:
    """Post the events waiting in the outbox with COUNT worker processes, until Ctrl-C or SIGTERM.

    Workers claim batches (SUBLEDGER_QUEUE_BATCH, default 1000) lane by lane, so the events of a
    subscription (and moves and reversals of a transaction) post in the order they were enqueued.
    A worker that dies is started again; killing one at any point loses and doubles nothing. Processed
    rows are deleted after SUBLEDGER_OUTBOX_RETENTION_HOURS (default 168). Run more on other
    machines against the same database to scale out.
    """
    from ledger_pipelines.logging import configure_logging
    from ledger_pipelines.service.workers import supervise

    settings = settings_or_exit()
    _service_settings(settings)
    dsns_or_exit(settings)
    configure_logging()
    click.echo(f"{count} worker(s) posting the outbox; Ctrl-C stops them after their current batch", err=True)
    raise SystemExit(supervise(settings, count))


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (as the database owner)."""


@keys.command("create")
@click.option("--scope", type=click.Choice(["read", "write", "admin"]), required=True,
              help="read: balances, statements, transactions, events, metrics; write: also post events and "
                   "transactions; admin: also the quarantine (raw events).")
@click.option("--name", default="api key", show_default=True, help="Who or what uses it (shown in the audit actor).")
@click.option("--json", "as_json", is_flag=True, help="Print {key_id, name, scope, key, ...} as JSON.")
def keys_create(scope: str, name: str, as_json: bool) -> None:
    """Create a key; it is printed once and stored only as its SHA-256."""
    from ledger_pipelines.service.keys import create_key

    settings = settings_or_exit()
    dsns = dsns_or_exit(settings)
    with connect(dsns.dsn, autocommit=True, application_name="subledger-keys") as conn:
        key, stored = create_key(conn, name, scope)
    if as_json:
        emit_json({**stored.as_json(), "key": key})
        return
    click.echo(key)
    click.echo(f"key {stored.key_id} ({scope}) created: keep it now, it is not shown again "
               "(send it as Authorization: Bearer <key>)", err=True)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON (never the secrets).")
def keys_list(as_json: bool) -> None:
    """List the keys (ids, names, scopes, revocations)."""
    from ledger_pipelines.service.keys import list_keys

    settings = settings_or_exit()
    dsns = dsns_or_exit(settings)
    with connect(dsns.dsn, autocommit=True, application_name="subledger-keys") as conn:
        found = list_keys(conn)
    if as_json:
        emit_json([k.as_json() for k in found])
        return
    rows = [[k.key_id, k.scope, k.name, k.created_at.isoformat(timespec="seconds"),
             k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "-"] for k in found]
    click.echo(table_text(["key_id", "scope", "name", "created_at", "revoked_at"], rows) if rows else "No API key yet.")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke KEY_ID: the API refuses it within 10 seconds."""
    from ledger_pipelines.service.keys import revoke_key

    settings = settings_or_exit()
    dsns = dsns_or_exit(settings)
    with connect(dsns.dsn, autocommit=True, application_name="subledger-keys") as conn:
        if not revoke_key(conn, key_id):
            fail(f"no key {key_id!r} that is not revoked already; see `subledger keys list`.")
    click.echo(f"key {key_id} revoked", err=True)


COMMANDS = [serve, workers, keys]
