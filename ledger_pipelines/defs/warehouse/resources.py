"""Resources of the warehouse domain: the DuckDB warehouse (one writer) and the ledger's Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from ledger_pipelines.config import Settings, load_settings
from ledger_pipelines.warehouse.store import DEFAULT_LOCK_TIMEOUT_SECONDS

if TYPE_CHECKING:
    import duckdb

    from ledger_pipelines.postgres.cluster import Dsns
    from ledger_pipelines.warehouse.publish import Published


class DuckDBWarehouse(dg.ConfigurableResource):
    """The DuckDB warehouse under the one-writer rule.

    ``writer()`` opens the private work file (``Settings.warehouse_work_path``) under an
    exclusive lock, so at most one process writes it -- Dagster steps in the
    ``duckdb_warehouse`` pool and ``subledger`` commands alike; ``publish()`` swaps a consistent
    copy into ``SUBLEDGER_DUCKDB_PATH`` atomically, which finance reads (``reader()``, read-only).
    Paths default to the settings; set them only to point a test or a one-off run elsewhere.
    """

    work_path: str | None = None
    published_path: str | None = None
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS

    def settings(self) -> Settings:
        """The ``SUBLEDGER_*`` settings of the process running the step."""
        return load_settings()

    def paths(self) -> tuple[Path, Path]:
        settings = self.settings()
        work = Path(self.work_path) if self.work_path else settings.warehouse_work_path
        published = Path(self.published_path) if self.published_path else settings.duckdb_path
        return work, published

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The work file, opened for writing by this process only (waits for another writer)."""
        from ledger_pipelines.warehouse.store import open_work

        work, _ = self.paths()
        with open_work(work, self.lock_timeout_seconds) as conn:
            yield conn

    def publish(self) -> Published:
        """Copy the work file to the published path atomically (temp file, fsync, rename)."""
        from ledger_pipelines.warehouse.publish import publish

        work, published = self.paths()
        return publish(work, published)

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the published warehouse (what finance and sensors use)."""
        from ledger_pipelines.warehouse.publish import open_published

        return open_published(self.paths()[1])


class LedgerPostgres(dg.ConfigurableResource):
    """The ledger's Postgres: the embedded cluster (started if needed) or ``SUBLEDGER_DATABASE_URL``.

    The mirror and the checks read with the reader role; anchors are written with the writer
    role. The DSNs may be given explicitly (tests, one-off runs against another database).
    """

    dsn: str | None = None
    reader_dsn: str | None = None
    writer_dsn: str | None = None

    def settings(self) -> Settings:
        """The ``SUBLEDGER_*`` settings of the process running the step (e.g. where verify's chain
        checkpoint is kept)."""
        return load_settings()

    def dsns(self) -> Dsns:
        from ledger_pipelines.postgres.cluster import Dsns
        from ledger_pipelines.postgres.database import ensure_database

        if self.dsn and self.reader_dsn and self.writer_dsn:
            return Dsns(dsn=self.dsn, writer_dsn=self.writer_dsn, reader_dsn=self.reader_dsn, dagster_dsn="")
        return ensure_database(load_settings())


# The domain's resource instances (Definitions.merge needs one object per key across domains).
duckdb_warehouse = DuckDBWarehouse()
ledger_postgres = LedgerPostgres()
