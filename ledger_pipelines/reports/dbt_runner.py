"""Running the report dbt project (``dbt_project/``) against a DuckDB warehouse file.

The profile (``dbt_project/profiles.yml``) reads the warehouse path from
``SUBLEDGER_DBT_DUCKDB_PATH`` (set for one invocation) and the reporting time zone from the dbt
var ``timezone`` (given with ``--vars``, never through the environment). This module points dbt's
target and log folders where the caller wants them (so concurrent runs never share ``target/``)
and returns a plain summary of every node (models,
tests) instead of dbt's objects. In process (``dbtRunner``) by default; ``in_process=False`` runs
the ``dbt`` command in a child process, for callers that must not share dbt's global state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger_pipelines.paths import dbt_project_dir

PATH_VARIABLE = "SUBLEDGER_DBT_DUCKDB_PATH"

# dbtRunner keeps global state (flags, adapter registry) and the profile reads os.environ:
# one invocation at a time per process.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class DbtNodeResult:
    """The outcome of one model or test: status is success/error/skipped (models), pass/fail/warn/error (tests)."""

    unique_id: str
    name: str
    resource_type: str
    status: str
    message: str | None = None
    failures: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in ("success", "pass", "warn")


@dataclass(frozen=True)
class DbtRunResult:
    """What a dbt invocation did: overall success, every node's result, where artifacts are."""

    command: tuple[str, ...]
    success: bool
    nodes: tuple[DbtNodeResult, ...] = field(default_factory=tuple)
    error: str | None = None
    seconds: float = 0.0
    target_path: Path | None = None

    def failed(self) -> list[DbtNodeResult]:
        return [node for node in self.nodes if not node.ok]

    def by_name(self, name: str) -> list[DbtNodeResult]:
        return [node for node in self.nodes if node.name == name]

    def summary(self) -> str:
        """One line per failure (or a success line), phrased for the person who has to act."""
        if self.success:
            models = sum(1 for n in self.nodes if n.resource_type == "model")
            tests = sum(1 for n in self.nodes if n.resource_type == "test")
            return f"dbt {' '.join(self.command)}: {models} models built, {tests} tests passed in {self.seconds:.1f}s."
        lines = [f"dbt {' '.join(self.command)} failed after {self.seconds:.1f}s."]
        if self.error:
            lines.append(f"  {self.error}")
        for node in self.failed():
            detail = f" ({node.failures} failing rows)" if node.failures else ""
            lines.append(f"  {node.resource_type} {node.name}: {node.status}{detail}: {node.message or ''}".rstrip(": "))
        if self.target_path:
            lines.append(f"  Compiled SQL of each node is under {self.target_path}/compiled; run it in DuckDB to see the rows.")
        return "\n".join(lines)


def dbt_env(duckdb_path: Path | str) -> dict[str, str]:
    """The environment variables the project's profile reads, and dbt's own.

    dbt writes every event at debug level, each query's text included, to ``logs/dbt.log``; a
    profile of a build showed a third of dbt's CPU there. The file log is off (``none``): the
    node results arrive on stdout (dagster-dbt's stream) and in ``run_results.json``.
    """
    return {PATH_VARIABLE: str(Path(duckdb_path).resolve()), "DBT_LOG_LEVEL_FILE": "none"}


def dbt_vars(timezone: str | None, vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``--vars`` of an invocation: ``vars`` plus the reporting time zone (var ``timezone``,
    the DuckDB session's ``TimeZone``; the profile defaults to UTC)."""
    return {**({"timezone": timezone} if timezone else {}), **(vars or {})}


@contextmanager
def temporary_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block (dbt's profile reads them), then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt_args(
    command: Sequence[str],
    *,
    project_dir: Path,
    profiles_dir: Path,
    target_path: Path | None,
    log_path: Path | None,
    select: str | None,
    vars: Mapping[str, Any] | None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line for ``command`` (e.g. ``["build"]``) with the project's folders and options."""
    args = [*command, "--project-dir", str(project_dir), "--profiles-dir", str(profiles_dir)]
    if target_path is not None:
        args += ["--target-path", str(target_path)]
    if log_path is not None:
        args += ["--log-path", str(log_path)]
    if select:
        args += ["--select", select]
    if vars:
        args += ["--vars", json.dumps(dict(vars))]
    return args + list(extra)


def run_dbt(
    command: Sequence[str],
    duckdb_path: Path | str,
    *,
    timezone: str | None = None,
    project_dir: Path | None = None,
    profiles_dir: Path | None = None,
    target_path: Path | None = None,
    log_path: Path | None = None,
    select: str | None = None,
    vars: Mapping[str, Any] | None = None,
    extra: Sequence[str] = (),
    in_process: bool = True,
) -> DbtRunResult:
    """Run a dbt ``command`` against the warehouse file ``duckdb_path``.

    ``timezone`` is the reporting time zone (var ``timezone``; UTC when not given). The file must
    not be open read-write elsewhere (DuckDB allows one writer).
    """
    project_dir = Path(project_dir or dbt_project_dir())
    profiles_dir = Path(profiles_dir or project_dir)
    if target_path is None:
        target_path = project_dir / "target"
    args = dbt_args(command, project_dir=project_dir, profiles_dir=profiles_dir, target_path=target_path,
                    log_path=log_path, select=select, vars=dbt_vars(timezone, vars), extra=extra)
    env = dbt_env(duckdb_path)
    started = time.monotonic()
    if in_process:
        with _LOCK, temporary_environment(env):
            outcome = _invoke(args)
    else:
        outcome = _subprocess(args, env)
    success, nodes, error = outcome
    return DbtRunResult(tuple(command), success, tuple(nodes), error, time.monotonic() - started, target_path)


def build_reports(duckdb_path: Path | str, **options: Any) -> DbtRunResult:
    """``dbt build``: every staging model, report and test, in dependency order."""
    return run_dbt(["build"], duckdb_path, **options)


def _invoke(args: list[str]) -> tuple[bool, list[DbtNodeResult], str | None]:
    from dbt.cli.main import dbtRunner  # imported lazily: dbt takes ~1 s to import

    try:
        result = dbtRunner().invoke(args)
    finally:
        _release_warehouse()
    nodes = [_node(r) for r in (getattr(result.result, "results", None) or [])]
    error = None if result.exception is None else f"{type(result.exception).__name__}: {result.exception}"
    return bool(result.success), nodes, error


def _release_warehouse() -> None:
    """Close the DuckDB database dbt-duckdb keeps open after an in-process run.

    dbt-duckdb holds its environment (and with it the DuckDB instance, read-write) on a class
    attribute until the next run; while it is open, this process cannot open the same file
    read-only (DuckDB refuses a second configuration) and no other process can open it at all.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
        if environment is not None:
            environment.close()


def _node(run_result: Any) -> DbtNodeResult:
    node = run_result.node
    status = getattr(run_result.status, "value", str(run_result.status))
    return DbtNodeResult(
        unique_id=node.unique_id,
        name=node.name,
        resource_type=getattr(node.resource_type, "value", str(node.resource_type)),
        status=str(status),
        message=run_result.message,
        failures=run_result.failures,
        seconds=float(run_result.execution_time or 0.0),
    )


def _subprocess(args: list[str], env: Mapping[str, str]) -> tuple[bool, list[DbtNodeResult], str | None]:
    """Run ``dbt`` in a child process and read the nodes back from ``run_results.json``."""
    target = Path(args[args.index("--target-path") + 1])
    results_file = target / "run_results.json"
    results_file.unlink(missing_ok=True)
    completed = subprocess.run(
        [sys.executable, "-m", "dbt.cli.main", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    nodes: list[DbtNodeResult] = []
    if results_file.exists():
        for r in json.loads(results_file.read_text())["results"]:
            unique_id = r["unique_id"]
            nodes.append(DbtNodeResult(
                unique_id=unique_id,
                name=unique_id.split(".")[2] if unique_id.count(".") >= 2 else unique_id,
                resource_type=unique_id.split(".")[0],
                status=r["status"],
                message=r.get("message"),
                failures=r.get("failures"),
                seconds=float(r.get("execution_time") or 0.0),
            ))
    error = None
    if completed.returncode not in (0, 1):
        error = (completed.stderr or completed.stdout).strip()[-2000:] or f"dbt exited with {completed.returncode}"
    return completed.returncode == 0, nodes, error
