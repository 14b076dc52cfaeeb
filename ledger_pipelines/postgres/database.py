"""Reach the ledger database: the embedded cluster by default, an external server if configured."""

from __future__ import annotations

import psycopg

from ledger_pipelines.config import Settings
from ledger_pipelines.postgres.cluster import Dsns, EmbeddedCluster, external_dsns
from ledger_pipelines.postgres.migrate import migrate


def database_dsns(settings: Settings, *, start: bool = True, apply_migrations: bool = True) -> Dsns:
    """DSNs of the ledger database, after making sure it runs and is migrated.

    With ``SUBLEDGER_DATABASE_URL`` unset this starts the embedded cluster if it is stopped
    (``start``); a running cluster is reused. Migrations already applied are skipped.
    """
    if settings.database_url:
        dsns = external_dsns(settings.database_url)
    else:
        cluster = EmbeddedCluster(settings)
        dsns = cluster.up() if start else cluster.dsns()
    if apply_migrations:
        migrate(dsns.dsn)
    return dsns


def connect(dsn: str, *, autocommit: bool = False, application_name: str = "subledger") -> psycopg.Connection:
    """A psycopg connection in UTC, named so that ``pg_stat_activity`` shows who it is."""
    conn = psycopg.connect(dsn, autocommit=True, application_name=application_name)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.autocommit = autocommit
    return conn
