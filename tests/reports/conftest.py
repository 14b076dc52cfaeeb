"""Fixtures: warehouses built from the scenario ledgers with the real dbt project.

dbt's parse and build take seconds, so each warehouse is built once per test session (per
xdist worker) and shared read-only by the tests that read it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ledger_pipelines.reports.dbt_runner import DbtRunResult, build_reports
from tests.reports import scenarios
from tests.reports.expected import Ledger
from tests.reports.ledger_fixture import LedgerBuilder


@dataclass(frozen=True)
class BuiltWarehouse:
    path: Path
    result: DbtRunResult
    ledger: Ledger

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def dicts(self, sql: str) -> list[dict]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            result = con.execute(sql)
            names = [d[0] for d in result.description]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


@pytest.fixture(scope="session")
def reports_workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="subledger-reports-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def build_warehouse(builder: LedgerBuilder, folder: Path, name: str,
                    tamper: Callable[[duckdb.DuckDBPyConnection], None] | None = None, **options) -> BuiltWarehouse:
    """Write the builder's ledger as analytics tables, optionally tamper with them, run dbt build.

    Every build in ``folder`` runs at one path with one target folder, so that dbt's partial
    parsing stays valid from one build to the next (a new warehouse path is a new profile, which
    forces a full parse); the file is moved to ``<name>.duckdb`` afterwards, which the reports
    survive because their views do not name the catalog."""
    path = builder.write(folder / f"{name}.duckdb")
    if tamper is not None:
        with duckdb.connect(str(path)) as con:
            tamper(con)
    building = folder / "building.duckdb"
    os.replace(path, building)
    try:
        result = build_reports(building, timezone=builder.timezone, target_path=folder / "target",
                               log_path=folder / "logs", **options)
    finally:
        os.replace(building, path)
    return BuiltWarehouse(path, result, Ledger(builder))


@pytest.fixture(scope="session")
def hand_made_warehouse(reports_workdir: Path) -> BuiltWarehouse:
    built = build_warehouse(scenarios.hand_made(), reports_workdir, "hand_made")
    assert built.result.success, built.result.summary()
    return built


@pytest.fixture(scope="session")
def generated_warehouse(reports_workdir: Path) -> BuiltWarehouse:
    built = build_warehouse(scenarios.generated(), reports_workdir, "generated")
    assert built.result.success, built.result.summary()
    return built
