"""What every benchmark shares: a throw-away embedded cluster, the server facts, the results file.

Each benchmark starts its own cluster under a temporary ``SUBLEDGER_HOME`` with the default
durability settings (fsync, synchronous_commit and full_page_writes on), so its figures are
those of a real deployment, and writes its numbers as JSON to ``bench/results/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import psycopg

from ledger_pipelines.config import Settings, load_settings
from ledger_pipelines.postgres.cluster import Dsns, EmbeddedCluster
from ledger_pipelines.postgres.migrate import migrate

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVER_SETTINGS = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_wal_size",
                   "wal_level")


@dataclass
class BenchCluster:
    """A temporary home and its embedded cluster (not started until :meth:`start`)."""

    home: Path
    settings: Settings
    cluster: EmbeddedCluster

    def start(self) -> Dsns:
        """Start the cluster and apply the migrations; return its DSNs."""
        dsns = self.cluster.up()
        migrate(dsns.dsn)
        return dsns

    def superuser_dsn(self) -> str:
        return self.cluster.superuser_dsn("subledger")


# The baselines every write benchmark compares against, in schema `bench` (recreated empty).
PLAIN_DDL = """
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
-- (a) unguarded: same columns and defaults (created_at, created_xid, ...), no index, no
-- constraint but NOT NULL, no trigger
CREATE TABLE bench.plain_transactions (LIKE ledger.transactions INCLUDING DEFAULTS);
CREATE TABLE bench.plain_entries (LIKE ledger.entries INCLUDING DEFAULTS);
-- (b) the ledger's layout and indexes (entries by month: bench_partitions.indexed_entries_YYYY_MM,
-- made for the rows' months by add_month_partitions), no trigger, no check/foreign-key constraint
CREATE TABLE bench.indexed_transactions (LIKE ledger.transactions INCLUDING DEFAULTS);
CREATE TABLE bench.indexed_entries (LIKE ledger.entries INCLUDING DEFAULTS) PARTITION BY RANGE (effective_at);
ALTER TABLE bench.indexed_entries ADD PRIMARY KEY (transaction_id, entry_no, effective_at);
CREATE UNIQUE INDEX ON bench.indexed_transactions (transaction_id);
CREATE UNIQUE INDEX ON bench.indexed_transactions (idempotency_key);
CREATE UNIQUE INDEX ON bench.indexed_transactions (reverses_transaction_id) WHERE reverses_transaction_id IS NOT NULL;
CREATE UNIQUE INDEX ON bench.indexed_transactions (transition_key) WHERE transition_key IS NOT NULL;
CREATE INDEX ON bench.indexed_transactions (reference) WHERE reference IS NOT NULL;
CREATE INDEX ON bench.indexed_transactions (changed_xid);
CREATE INDEX ON bench.indexed_entries (account_id, currency, effective_at);
"""


def add_month_partitions(conn: psycopg.Connection, table: str, times: pl.Series) -> None:
    """Monthly range partitions of ``table`` (``<table>_YYYY_MM``) for every UTC month of ``times``, as the ledger has."""
    months = times.dt.convert_time_zone("UTC").dt.truncate("1mo").unique().sort()
    for start in months.to_list():
        end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table}_{start:%Y_%m} PARTITION OF {table} "
                     f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")


@contextmanager
def temporary_cluster(prefix: str, *, keep: bool = False) -> Iterator[BenchCluster]:
    """A fresh ``SUBLEDGER_HOME`` with an embedded cluster at default durability; stopped and
    removed afterwards unless ``keep`` (then its location is printed)."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    home.chmod(0o755)  # the server runs as 'postgres' when invoked as root
    settings = load_settings({"SUBLEDGER_HOME": str(home)})
    bench = BenchCluster(home, settings, EmbeddedCluster(settings))
    try:
        yield bench
    finally:
        if keep:
            print(f"cluster and files kept under {home} (stop it with SUBLEDGER_HOME={home} subledger down)")
        else:
            bench.cluster.down()
            shutil.rmtree(home, ignore_errors=True)


CGROUP_MEMORY_ROOT = Path("/sys/fs/cgroup/memory")


@contextmanager
def server_memory_limit(data_dir: Path, megabytes: int) -> Iterator[Path]:
    """Hold the running server (postmaster and every process it has and will fork) to ``megabytes``
    of memory, *page cache included*, in a cgroup v1 memory group; the group is removed afterwards.

    This is how a benchmark shows a history larger than memory on a machine whose page cache would
    otherwise hold all of it: the server's reads and writes of data files are charged to the group,
    so once the history outgrows it, pages are read back from disk as on a real, large ledger.
    Needs root and the cgroup v1 memory controller (``/sys/fs/cgroup/memory``); start the server
    first and apply the limit before loading the history (pages already cached stay charged to
    whoever read them). Anonymous memory (shared_buffers, backends) must fit: there is no swap, so
    a limit below it gets a backend killed.
    """
    if not (CGROUP_MEMORY_ROOT / "cgroup.procs").exists() or os.geteuid() != 0:
        raise RuntimeError(f"--server-memory needs root and the cgroup v1 memory controller at {CGROUP_MEMORY_ROOT}; "
                           "run without it to measure with the machine's memory.")
    group = CGROUP_MEMORY_ROOT / f"subledger-bench-{os.getpid()}"
    group.mkdir(exist_ok=True)
    (group / "memory.limit_in_bytes").write_text(str(megabytes * 2**20))
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    children = [int(stat.split()[0]) for stat in _proc_stats() if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster]
    for pid in (postmaster, *children):
        (group / "cgroup.procs").write_text(str(pid))
    try:
        yield group
    finally:
        for pid in (group / "cgroup.procs").read_text().split():  # back to the root group, then remove the group
            try:
                (CGROUP_MEMORY_ROOT / "cgroup.procs").write_text(pid)
            except OSError:
                pass  # it ended meanwhile
        try:
            group.rmdir()
        except OSError:
            pass


def _proc_stats() -> Iterator[str]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield (entry / "stat").read_text()
            except OSError:
                continue


def cgroup_memory_stats(group: Path) -> dict[str, int]:
    """The group's page-cache and anonymous memory and how often it hit its limit (``memory.stat``, ``memory.failcnt``)."""
    stat = dict(line.split() for line in (group / "memory.stat").read_text().splitlines())
    return {"cache_mb": int(stat["cache"]) // 2**20, "rss_mb": int(stat["rss"]) // 2**20,
            "max_usage_mb": int((group / "memory.max_usage_in_bytes").read_text()) // 2**20,
            "limit_hits": int((group / "memory.failcnt").read_text())}


def server_facts(superuser_dsn: str) -> dict[str, str]:
    """The server settings that decide the figures (version, durability, memory)."""
    with psycopg.connect(superuser_dsn) as conn:
        return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in SERVER_SETTINGS}


def describe_server(server: dict[str, str]) -> str:
    """One line: the Postgres version and durability settings, CPUs, Python."""
    return (f"Postgres {server['server_version']} (fsync={server['fsync']}, synchronous_commit={server['synchronous_commit']}, "
            f"full_page_writes={server['full_page_writes']}), {os.cpu_count()} CPUs, Python {platform.python_version()}")


def write_results(name: str, document: dict[str, Any]) -> Path:
    """Write ``document`` to ``bench/results/<name>-<UTC timestamp>.json``; print and return the path."""
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(document, indent=2, default=str))
    print(f"\nwritten to {out}")
    return out
