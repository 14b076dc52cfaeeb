"""Bring a ledger database to the current schema (docs/architecture.md, "Postgres schema and migrations").

The schema is ``sql/schema/``: ``ledger.sql`` and ``ingest.sql`` (tables, indexes, views, grants) and
``functions/*.sql`` (one function each, with the triggers and CHECK constraints that call it).
``sql/migrations/`` holds how an existing database gets there, as yoyo migrations that change
tables and data only. :func:`migrate`, under yoyo's lock and in **one database transaction** (an
upgrade commits whole or not at all, so the guards never run against tables they do not match):

* an empty database gets the schema files at once (migration ``0001_baseline``); every later
  migration is recorded as applied without running, because the schema files already hold its
  effect;
* a database built by the stacked migrations of 0.1.0 (``0001_roles_and_schemas`` ..
  ``0025_account_codes_nfc``) has ``0001_baseline`` recorded as applied instead: its tables are the
  baseline's but for what ``0002_from_stacked_migrations`` changes;
* the pending migrations run in order;
* the function files are applied (``CREATE OR REPLACE``) when they differ from what the database
  last got: a digest of them is kept in ``_subledger_functions``, next to yoyo's tables, so a
  migrate with nothing new takes no lock on a ledger table;
* the entries partitions of this month and the next two are made if missing (ahead of need; a
  catalog lookup when they exist).
* one ``schema.migrated`` row in the audit log says what ran (the DDL itself is recorded row by
  row by the DDL audit, when a superuser installed it: :func:`install_ddl_audit`);
* what the ledger recorded before is sealed into the hash chain (``ledger.seal_chain``; on an
  upgraded ledger the first call makes the genesis link of everything already there).

Safe to run at every start; two concurrent calls queue on yoyo's lock.
"""

from __future__ import annotations

import hashlib

import psycopg
from yoyo import get_backend, read_migrations
from yoyo.backends.base import DatabaseBackend
from yoyo.migrations import MigrationList

from ledger_pipelines.paths import read_sql, sql_dir

BASELINE = "0001_baseline"
SCHEMA_FILES = ("ledger.sql", "ingest.sql")
# The migrations of 0.1.0, squashed into the baseline. A database that has them was built from them.
STACKED = {
    "0001_roles_and_schemas", "0002_ledger_tables", "0003_ledger_guards", "0004_ledger_grants",
    "0005_locking_and_period_close", "0010_ingest", "0011_quarantine_file_pointer_and_resolution",
    "0020_balance_anchors", "0021_lifecycle_moves_by_index", "0022_set_based_reference_checks",
    "0023_account_codes_refuse_invisible_characters", "0024_posted_at_and_account_types_on_insert",
    "0025_account_codes_nfc",
}
# What 0002_from_stacked_migrations starts from: the oldest stacked schema it upgrades (commit f282fcf).
STACKED_REQUIRED = STACKED - {"0011_quarantine_file_pointer_and_resolution", "0025_account_codes_nfc"}
FUNCTIONS_TABLE = "_subledger_functions"


class MigrationError(RuntimeError):
    """The database cannot be brought to the current schema as it is."""


def _yoyo_uri(dsn: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix):]
    raise ValueError(
        f"The database URL must start with postgresql:// (got {dsn.split(':', 1)[0]}://...); "
        "write it as postgresql://user:password@host:port/database."
    )


def create_schema(conn: psycopg.Connection) -> None:
    """The tables of ``sql/schema/`` on an empty database (the step of migration ``0001_baseline``)."""
    for name in SCHEMA_FILES:
        conn.execute((sql_dir() / "schema" / name).read_text())


def function_files() -> list[tuple[str, str]]:
    """``(file name, text)`` of ``sql/schema/functions/``, in name order (the order they are applied in:
    a SQL function whose body is parsed at creation may call only functions of earlier files)."""
    return [(path.name, path.read_text()) for path in sorted((sql_dir() / "schema" / "functions").glob("*.sql"))]


def functions_digest(files: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for name, text in files:
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def _apply_functions(conn: psycopg.Connection) -> bool:
    """Apply the function files if they changed since the last time; True if they were applied."""
    files = function_files()
    digest = functions_digest(files)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {FUNCTIONS_TABLE} (digest text NOT NULL, applied_at timestamptz NOT NULL)")
    if conn.execute(f"SELECT 1 FROM {FUNCTIONS_TABLE} WHERE digest = %s", [digest]).fetchone():
        return False
    for _, text in files:
        conn.execute(text)
    conn.execute(f"DELETE FROM {FUNCTIONS_TABLE}")
    conn.execute(f"INSERT INTO {FUNCTIONS_TABLE} (digest, applied_at) VALUES (%s, clock_timestamp())", [digest])
    return True


def _applied_ids(backend: DatabaseBackend) -> set[str]:
    backend.ensure_internal_schema_updated()
    return {row[0] for row in backend.execute(f"SELECT migration_id FROM {backend.migration_table_quoted}").fetchall()}


def _run(backend: DatabaseBackend, migrations: MigrationList) -> list[str]:
    """Inside the caller's transaction: the baseline or its stand-in, the pending migrations, the functions."""
    # The DDL below is recorded by the DDL audit (sql/schema/superuser/ddl_audit.sql) under this name.
    backend.connection.execute("SELECT set_config('subledger.actor', 'subledger migrate', true), "
                               "set_config('subledger.reason', 'schema.migrated', true)")
    applied = _applied_ids(backend)
    pending = list(backend.to_apply(migrations))
    ran = []
    existed = bool(applied)  # a new database has nothing to audit yet
    if BASELINE not in applied:
        baseline = next(m for m in pending if m.id == BASELINE)
        stacked = applied & STACKED
        if stacked:
            missing = sorted(STACKED_REQUIRED - stacked)
            if missing:
                raise MigrationError(
                    f"This database was built by a development version of subledger older than 0.1.0's last schema "
                    f"(it lacks the migrations {', '.join(missing)}), which cannot be upgraded in place. Export what you "
                    "need, then create a new ledger database and run `subledger up`."
                )
            backend.mark_one(baseline)
            pending.remove(baseline)
        else:
            baseline.process_steps(backend, "apply")
            backend.log_migration(baseline, "apply")
            backend.mark_one(baseline, log=False)
            for migration in pending:
                if migration is not baseline:
                    backend.mark_one(migration)
            ran.append(baseline.id)
            pending = []
    for migration in pending:
        migration.process_steps(backend, "apply")
        backend.log_migration(migration, "apply")
        backend.mark_one(migration, log=False)
        ran.append(migration.id)
    functions = _apply_functions(backend.connection)
    backend.connection.execute(read_sql("ledger/ensure_entry_partitions_ahead.sql"))
    if existed and (ran or functions):
        backend.connection.execute(
            "INSERT INTO ledger.audit_log (action, target_type, target_id, after) "
            "VALUES ('schema.migrated', 'schema', 'ledger', jsonb_build_object('migrations', %s::text[], 'functions', %s))",
            [ran, functions])
    # Everything recorded before this migrate is sealed into the chain (the first link: genesis).
    backend.connection.execute("SELECT ledger.seal_chain()")
    return ran


def install_ddl_audit(superuser_dsn: str) -> bool:
    """As a superuser, install the event triggers that record DDL in the ledger's audit log
    (``sql/schema/superuser/ddl_audit.sql``) unless they are installed, enabled and run the file's
    function body (so a start records nothing); True if they were (re)installed."""
    text = (sql_dir() / "schema" / "superuser" / "ddl_audit.sql").read_text()
    body = text.split("$$")[1]  # the function's source, as pg_proc keeps it
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        current = conn.execute(
            "SELECT 1 FROM pg_proc WHERE oid = to_regprocedure('subledger_audit.record_ddl()') AND prosrc = %s "
            "AND (SELECT count(*) FROM pg_event_trigger WHERE evtname IN ('subledger_audit_ddl', 'subledger_audit_drop') "
            "AND evtenabled = 'O') = 2", [body]).fetchone()
        if current is not None:
            return False
        with conn.transaction():
            conn.execute(text)
    return True


def migrate(dsn: str) -> list[str]:
    """Bring the database at ``dsn`` (as the owner role) to the current schema; return the ids of the
    migrations that ran now (a new database: only ``0001_baseline``)."""
    backend = get_backend(_yoyo_uri(dsn))
    migrations = read_migrations(str(sql_dir() / "migrations"))
    try:
        with backend.lock():
            backend.ensure_internal_schema_updated()
            with backend.transaction():
                return _run(backend, migrations)
    finally:
        backend.connection.close()
