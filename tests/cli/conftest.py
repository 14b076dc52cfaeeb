"""Command-line tests in process (click's CliRunner): a fresh ledger database of the session's
embedded cluster used as an external server, and a warehouse with the reports built from the
hand-made ledger of tests/reports (published where SUBLEDGER_DUCKDB_PATH points)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ledger_pipelines.cli import main
from tests.reports import scenarios
from tests.reports.conftest import BuiltWarehouse, build_warehouse


@pytest.fixture(scope="session")
def warehouse() -> Iterator[BuiltWarehouse]:
    folder = Path(tempfile.mkdtemp(prefix="subledger-cli-warehouse-"))
    built = build_warehouse(scenarios.hand_made(), folder, "hand_made")
    assert built.result.success, built.result.summary()
    yield built
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def run_cli(home: Path, *args: str, database_url: str | None = None, duckdb_path: Path | None = None, **env) -> Result:
    """``subledger ARGS`` in process; stdout and stderr apart."""
    environment = {"SUBLEDGER_HOME": str(home), "SUBLEDGER_DATABASE_URL": database_url, "SUBLEDGER_TIMEZONE": None,
                   "SUBLEDGER_DUCKDB_PATH": str(duckdb_path) if duckdb_path else None, "SUBLEDGER_LOG_FORMAT": None,
                   **env}
    return CliRunner(env=environment).invoke(main, list(args))
