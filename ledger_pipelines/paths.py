"""Where the project's non-Python files live: ``sql/`` and ``dbt_project/`` at the repository root.

subledger runs from its checkout (``uv sync`` installs the package in editable mode; the
container image copies the whole repository), so these folders sit next to the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _project_folder(name: str) -> Path:
    candidate = _PACKAGE.parent / name
    if not candidate.is_dir():
        raise FileNotFoundError(
            f"The project folder {candidate} is missing; run subledger from a complete checkout of the repository."
        )
    return candidate


def sql_dir() -> Path:
    return _project_folder("sql")


def dbt_project_dir() -> Path:
    return _project_folder("dbt_project")


def read_sql(relative: str) -> str:
    """The text of ``sql/<relative>``, e.g. ``read_sql("ledger/balance_at.sql")``."""
    return (sql_dir() / relative).read_text()
