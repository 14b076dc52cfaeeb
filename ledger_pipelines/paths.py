"""Where the project's non-Python files live: ``sql/`` and ``dbt_project/`` at the repository root.

A wheel carries them inside the package (``ledger_pipelines/_bundled``); a checkout uses the
top-level folders directly.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _project_folder(name: str) -> Path:
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_bundled" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"The project folder {name!r} is missing next to {_PACKAGE}; reinstall subledger.")


def sql_dir() -> Path:
    return _project_folder("sql")


def dbt_project_dir() -> Path:
    return _project_folder("dbt_project")


def read_sql(relative: str) -> str:
    """The text of ``sql/<relative>``, e.g. ``read_sql("ledger/balance_at.sql")``."""
    return (sql_dir() / relative).read_text()
