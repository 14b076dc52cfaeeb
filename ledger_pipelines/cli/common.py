"""Helpers shared by the command modules: JSON output, errors, connections."""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from ledger_pipelines.config import ConfigError, Settings, database_address, load_settings, url_password
from ledger_pipelines.postgres.cluster import Dsns
from ledger_pipelines.postgres.database import ensure_database


def emit_json(document: Any) -> None:
    """Write one JSON document on stdout and nothing else (interfaces.md)."""
    click.echo(json.dumps(document, default=str, ensure_ascii=False))


def output_format(chosen: str | None) -> str:
    """``--format``: as given; by default a table for a person at a terminal, JSON for a script (a pipe)."""
    if chosen:
        return chosen
    return "table" if sys.stdout.isatty() else "json"


def format_option(choices: tuple[str, ...] = ("table", "json", "csv")):
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=None,
                        help="Output format. Default: table on a terminal, JSON when the output is piped.")


def table_text(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    """A plain text table: columns padded to their widest cell, the ``right`` ones right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error on stderr and exit with ``code`` (1: rejected/failed, 2: usage)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc), 2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the platform's known exceptions into a one-line error and exit code 1."""
    from ledger_pipelines.accounting.errors import LedgerError
    from ledger_pipelines.postgres.cluster import ClusterError, PostgresNotFound

    try:
        yield
    except (LedgerError, ClusterError, PostgresNotFound) as exc:
        fail(str(exc), 1)


def dsns_or_exit(settings: Settings) -> Dsns:
    """DSNs of the ledger database, started (the embedded cluster) and migrated when needed."""
    with user_errors():
        return ensure_database(settings)


# -- known failures -> one clear message (used by the ``subledger`` group for every command) -----
class CliError(click.ClickException):
    """An expected failure: printed as ``error: ...`` on stderr, exit ``exit_code``, no traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


#: SQLSTATEs of OperationalErrors that mean "the server cannot be reached / the session was lost"
#: (class 08: connection exception; 57P01-57P03: the server shut down or is starting up).
_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")
#: How psycopg/libpq word a connection that was lost (one that could not be made starts "connection failed").
_LOST_CONNECTION_MESSAGES = ("server closed the connection", "could not receive data from server",
                             "could not send data to server", "terminating connection")
#: File-system errors on a path: the user's path or permissions, not a bug in subledger.
_PATH_ERRNOS = {errno.ENOENT, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.ENOSPC, errno.EROFS,
                errno.EDQUOT, errno.EEXIST}


def _is_connection_failure(exc: BaseException) -> bool:
    import psycopg

    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None)
    if state and state.startswith(_CONNECTION_SQLSTATES):
        return True
    message = str(exc).lstrip().lower()
    return state is None and (message.startswith("connection failed") or any(m in message for m in _LOST_CONNECTION_MESSAGES))


def _libpq_reason(exc: BaseException) -> str:
    """What libpq said, without its preamble: ``Connection refused``, ``FATAL: password authentication ...``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    first = lines[0]
    reason = first.rsplit("failed: ", 1)[-1] if "failed: " in first else first
    return reason.rstrip(".")


def _scrub(text: str, *urls: str | None) -> str:
    from ledger_pipelines.logging import scrub_secrets

    for url in urls:
        password = url_password(url)
        if password:
            text = text.replace(password, "***")
    return scrub_secrets(text)


def _database_unreachable(exc: BaseException) -> CliError:
    try:
        settings: Settings | None = load_settings()
    except ConfigError:
        settings = None
    url = settings.database_url if settings else None
    if url:
        where = f"at {database_address(url)}"
        advice = ("check SUBLEDGER_DATABASE_URL (host, port, user, password, database) and that the server is "
                  "running there, or unset it and run `subledger up` to use the embedded Postgres.")
    else:
        url = _embedded_dsn(settings) if settings else None
        embedded = f"the embedded Postgres under {settings.postgres_dir}" if settings else "the embedded Postgres"
        where = f"at {database_address(url)} ({embedded})" if url else f"({embedded})"
        advice = "run `subledger up` to start it (or set SUBLEDGER_DATABASE_URL to an external server), then retry."
    reason = _scrub(_libpq_reason(exc), url)
    if not str(exc).lower().lstrip().startswith("connection failed"):
        verb = "lost the connection to"
    elif "FATAL" in reason:  # the server answered: wrong user, password or database
        verb = "could not log in to"
    else:
        verb = "could not reach"
    return CliError(f"{verb} the ledger database {where} ({reason}).\n       What to do: {advice}", 1)


def _embedded_dsn(settings: Settings) -> str | None:
    try:
        from ledger_pipelines.postgres.cluster import EmbeddedCluster

        return EmbeddedCluster(settings).dsns().dsn
    except Exception:  # noqa: BLE001 - only decorates the message
        return None


def known_error(exc: BaseException) -> CliError | None:
    """The message and exit code for an expected failure, or ``None`` (a bug: let it show a traceback).

    Known: the database cannot be reached (1, the runtime-failure code of interfaces.md); a setting
    or the posting rules file is invalid (2, a usage error); a file or folder cannot be read or
    written (1).
    """
    if isinstance(exc, ConfigError):
        return CliError(f"{exc}", 2)
    from ledger_pipelines.ingest.rules import RuleError

    if isinstance(exc, RuleError):  # the posting rules file (SUBLEDGER_RULES_PATH) is a setting too
        return CliError(f"the posting rules are invalid: {exc} Fix the file and retry.", 2)
    if _is_connection_failure(exc):
        return _database_unreachable(exc)
    if isinstance(exc, OSError) and exc.filename is not None and exc.errno in _PATH_ERRNOS:
        path = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        return CliError(f"{path}: {exc.strerror or exc}. Check the path exists and that you may read/write it.", 1)
    return None
