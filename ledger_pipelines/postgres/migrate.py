"""Apply the SQL migrations in ``sql/migrations`` with yoyo-migrations.

yoyo records every applied migration in ``_yoyo_migration``, takes a lock so that two concurrent
``subledger up`` calls do not race, and skips what is already applied, so :func:`migrate` is safe
to run at every start.
"""

from __future__ import annotations

from yoyo import get_backend, read_migrations

from ledger_pipelines.paths import sql_dir


def _yoyo_uri(dsn: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix):]
    raise ValueError(
        f"The database URL must start with postgresql:// (got {dsn.split(':', 1)[0]}://...); "
        "write it as postgresql://user:password@host:port/database."
    )


def migrate(dsn: str) -> list[str]:
    """Apply every pending migration as the owner role; return the ids applied now."""
    backend = get_backend(_yoyo_uri(dsn))
    migrations = read_migrations(str(sql_dir() / "migrations"))
    try:
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
            return [m.id for m in pending]
    finally:
        backend.connection.close()
