"""Helpers shared by the command modules: JSON output, errors, connections."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from ledger_pipelines.config import ConfigError, Settings, load_settings
from ledger_pipelines.postgres.cluster import Dsns
from ledger_pipelines.postgres.database import database_dsns


def emit_json(document: Any) -> None:
    """Write one JSON document on stdout and nothing else (interfaces.md)."""
    click.echo(json.dumps(document, default=str, ensure_ascii=False))


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
    from ledger_pipelines.ledger.errors import LedgerError
    from ledger_pipelines.postgres.cluster import ClusterError, PostgresNotFound

    try:
        yield
    except (LedgerError, ClusterError, PostgresNotFound) as exc:
        fail(str(exc), 1)


def dsns_or_exit(settings: Settings, start: bool = True) -> Dsns:
    """DSNs of the ledger database, starting the embedded cluster when needed."""
    with user_errors():
        return database_dsns(settings, start=start)
