"""Fixtures of the warehouse tests: a fresh ledger database (tests/conftest.py) and DuckDB files."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
import pytest

from ledger_pipelines.ledger.chain import seal
from ledger_pipelines.warehouse import snapshots
from ledger_pipelines.warehouse.mirror import MirrorResult, mirror
from ledger_pipelines.warehouse.store import open_work


@dataclass(frozen=True)
class Files:
    work: Path
    published: Path


@pytest.fixture
def files() -> Iterator[Files]:
    folder = Path(tempfile.mkdtemp(prefix="subledger-wh-"))
    folder.chmod(0o755)
    yield Files(folder / "warehouse.work.duckdb", folder / "warehouse.duckdb")
    shutil.rmtree(folder, ignore_errors=True)


def build(db, work: Path, *, tz: str, start: date, last: date, rebuild_from: date | None = None, anchors: bool = True,
          anchor_every: int = 256) -> tuple[MirrorResult, snapshots.SnapshotResult, snapshots.SnapshotResult]:
    """Seal the hash chain and mirror (as the ledger_mirror asset does), then refresh the account and
    category snapshots through ``last`` (standing for today)."""
    with psycopg.connect(db.writer_dsn, autocommit=True) as pg:
        seal(pg)
    with open_work(work) as conn:
        mirrored = mirror(conn, db.reader_dsn, tz)
        accounts = snapshots.refresh_accounts(conn, tz=tz, start=start, through=last, rebuild_from=rebuild_from,
                                              writer_dsn=db.writer_dsn if anchors else None, anchor_every=anchor_every)
        categories = snapshots.refresh_categories(conn, tz=tz, start=start, through=last, rebuild_from=rebuild_from)
    return mirrored, accounts, categories
