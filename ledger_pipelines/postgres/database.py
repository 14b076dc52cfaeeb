"""Reach the ledger database: the embedded cluster by default, an external server if configured."""

from __future__ import annotations

import psycopg

from ledger_pipelines.config import ConfigError, Settings
from ledger_pipelines.postgres.cluster import (
    LEDGER_DATABASE,
    READER_ROLE,
    WRITER_ROLE,
    Dsns,
    EmbeddedCluster,
    external_dsns,
)
from ledger_pipelines.postgres.migrate import install_ddl_audit, migrate


def database_dsns(settings: Settings) -> Dsns:
    """Where the ledger database is, without touching it: never starts a server, never migrates.

    The embedded cluster's DSNs (from its data folder) unless ``SUBLEDGER_DATABASE_URL`` is set.
    For readers and workers that must not change anything; :func:`ensure_database` prepares it.
    """
    if settings.database_url:
        return external_dsns(settings.database_url, settings.writer_database_url, settings.reader_database_url)
    return EmbeddedCluster(settings).dsns()


def ensure_database(settings: Settings) -> Dsns:
    """The ledger database, running and migrated: its DSNs.

    With ``SUBLEDGER_DATABASE_URL`` unset this starts the embedded cluster if it is stopped (a
    running cluster is reused); migrations already applied are skipped. With separate writer or
    reader URLs, checks that those roles log in as what they claim.
    """
    cluster = None
    if settings.database_url:
        dsns = external_dsns(settings.database_url, settings.writer_database_url, settings.reader_database_url)
    else:
        cluster = EmbeddedCluster(settings)
        dsns = cluster.up()
    migrate(dsns.dsn)
    if cluster is not None:  # an external server's superuser installs it (docs/security.md)
        install_ddl_audit(cluster.superuser_dsn(LEDGER_DATABASE))
    if settings.writer_database_url or settings.reader_database_url:
        check_role_logins(dsns)
    return dsns


def check_role_logins(dsns: Dsns) -> None:
    """The writer URL logs in as a member of subledger_writer, the reader URL of subledger_reader only.

    Neither may hold the owner's rights (or the other's, for the reader): a URL that would give
    more than its name says is refused with :class:`ConfigError` before anything uses it.
    """
    owner = _login_role(dsns.dsn)
    expectations = [
        ("SUBLEDGER_WRITER_DATABASE_URL", dsns.writer_dsn, WRITER_ROLE, (owner,)),
        ("SUBLEDGER_READER_DATABASE_URL", dsns.reader_dsn, READER_ROLE, (owner, WRITER_ROLE)),
    ]
    for variable, dsn, role, forbidden in expectations:
        if "options=" in dsn:  # the SET ROLE fallback for the URL not given
            continue
        with psycopg.connect(dsn, autocommit=True) as conn:
            user, member, super_user, too_much = conn.execute(
                "SELECT current_user, pg_has_role(current_user, %s, 'USAGE'), "
                "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
                "(SELECT array_agg(r) FROM unnest(%s::text[]) r WHERE r <> current_user AND pg_has_role(current_user, r, 'MEMBER'))",
                [role, list(forbidden)],
            ).fetchone()
        if not member:
            raise ConfigError(f"{variable} logs in as {user!r}, which is not a member of {role}. "
                              f"As the owner run: GRANT {role} TO {user};")
        if super_user or too_much or user == owner:
            held = "superuser" if super_user else ", ".join(too_much or [owner])
            raise ConfigError(f"{variable} logs in as {user!r}, which also holds {held}: it must have only the "
                              f"{role} rights. Give it a login role of its own that is a member of {role} only.")


def _login_role(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT current_user").fetchone()[0]


def connect(dsn: str, *, autocommit: bool = False, application_name: str = "subledger") -> psycopg.Connection:
    """A psycopg connection in UTC, named so that ``pg_stat_activity`` shows who it is."""
    conn = psycopg.connect(dsn, autocommit=True, application_name=application_name)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.autocommit = autocommit
    return conn
