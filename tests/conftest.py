"""Shared fixtures: a real embedded Postgres per test session, a fresh migrated database per test.

The cluster is the project's own (``EmbeddedCluster``), started under a temporary
``SUBLEDGER_HOME``; each test gets ``CREATE DATABASE ... TEMPLATE`` of a migrated template, which
takes ~50 ms and isolates tests completely. fsync is off for speed: these tests kill client
processes, never the server, so durability of the OS cache is not under test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ledger_pipelines.config import load_settings
from ledger_pipelines.postgres.cluster import OWNER_ROLE, EmbeddedCluster
from ledger_pipelines.postgres.migrate import install_ddl_audit, migrate

TEMPLATE = "ledger_template"


@dataclass(frozen=True)
class LedgerDatabase:
    """One fresh, migrated ledger database and a DSN per role."""

    name: str
    dsn: str
    writer_dsn: str
    reader_dsn: str
    superuser_dsn: str


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedCluster]:
    home = Path(tempfile.mkdtemp(prefix="subledger-test-"))
    home.chmod(0o755)  # the server runs as 'postgres' when the tests run as root
    settings = load_settings({"SUBLEDGER_HOME": str(home)})
    cluster = EmbeddedCluster(
        settings,
        server_options={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"},
    )
    dsns = cluster.up()
    with psycopg.connect(cluster.superuser_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(TEMPLATE), sql.Identifier(OWNER_ROLE)))
    migrate(dsns.dsn.rsplit("/", 1)[0] + "/" + TEMPLATE)
    install_ddl_audit(cluster.superuser_dsn(TEMPLATE))  # as `subledger up` does
    yield cluster
    cluster.down()
    shutil.rmtree(home, ignore_errors=True)


def make_database(cluster: EmbeddedCluster) -> LedgerDatabase:
    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(cluster.superuser_dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE), sql.Identifier(OWNER_ROLE)
            )
        )
    dsns = cluster.dsns(database=name)
    return LedgerDatabase(name, dsns.dsn, dsns.writer_dsn, dsns.reader_dsn, cluster.superuser_dsn(name))


def drop_database(cluster: EmbeddedCluster, name: str) -> None:
    with psycopg.connect(cluster.superuser_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def ledger_db(pg_cluster: EmbeddedCluster) -> Iterator[LedgerDatabase]:
    """A fresh migrated ledger database for one test."""
    db = make_database(pg_cluster)
    yield db
    drop_database(pg_cluster, db.name)


@pytest.fixture
def subledger_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty SUBLEDGER_HOME for one test (a traversable folder outside pytest's 0700 tmp),
    removed afterwards with any embedded server a test started in it."""
    home = Path(tempfile.mkdtemp(prefix="subledger-home-"))
    home.chmod(0o755)
    monkeypatch.setenv("SUBLEDGER_HOME", str(home))
    yield home
    try:
        EmbeddedCluster(load_settings({"SUBLEDGER_HOME": str(home)})).down()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    """The suite is hermetic: it never reads the user's ``./.subledger`` (a demo's settings.env, its
    warehouse) or the ``SUBLEDGER_*``/``DAGSTER_HOME`` variables of the shell it was started from.
    Every test that needs a home makes its own; anything that reads settings without one reads an
    empty home of the session's (pytest-xdist workers inherit it)."""
    for name in [n for n in os.environ if n.startswith("SUBLEDGER_") or n == "DAGSTER_HOME"]:
        if name != "SUBLEDGER_TEST_SESSION_HOME":
            del os.environ[name]
    if "SUBLEDGER_TEST_SESSION_HOME" not in os.environ:
        os.environ["SUBLEDGER_TEST_SESSION_HOME"] = tempfile.mkdtemp(prefix="subledger-session-home-")
    os.environ["SUBLEDGER_HOME"] = os.environ["SUBLEDGER_TEST_SESSION_HOME"]
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, after every worker is done
        shutil.rmtree(os.environ.pop("SUBLEDGER_TEST_SESSION_HOME", ""), ignore_errors=True)
