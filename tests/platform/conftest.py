"""Harness for the platform tests: real processes (embedded Postgres, Dagster daemon and webserver
via ``subledger dev``), logs and screenshots kept under ``test-artifacts/platform/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ledger_pipelines.config import Settings, load_settings
from ledger_pipelines.postgres.cluster import EmbeddedCluster

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ARTIFACTS = REPO / "test-artifacts" / "platform"
PROBES = Path(__file__).resolve().parent / "locations" / "probes.py"

T = TypeVar("T")


def artifact_dir(name: str) -> Path:
    """A fresh folder under test-artifacts/platform/ for one test's logs and screenshots."""
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def wait_for(predicate: Callable[[], T], *, timeout: float, interval: float = 1.0, what: str,
             diagnostics: Callable[[], str] | None = None) -> T:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` (and diagnostics)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # keep polling; report the last error if we time out
            last_error = exc
        time.sleep(interval)
    detail = f" (last error: {last_error!r})" if last_error else ""
    extra = f"\n{diagnostics()}" if diagnostics else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}{extra}")


@dataclass
class PlatformHome:
    """A temporary SUBLEDGER_HOME whose embedded Postgres is stopped and whose files are removed
    when the test ends."""

    home: Path
    settings: Settings
    environ: dict[str, str]

    @property
    def cluster(self) -> EmbeddedCluster:
        return EmbeddedCluster(self.settings)


@contextmanager
def platform_home(prefix: str = "subledger-platform-") -> Iterator[PlatformHome]:
    home = Path(tempfile.mkdtemp(prefix=prefix))
    home.chmod(0o755)  # the embedded server runs as 'postgres' when the tests run as root
    environ = {"SUBLEDGER_HOME": str(home)}
    settings = load_settings(environ)
    try:
        yield PlatformHome(home, settings, environ)
    finally:
        try:
            EmbeddedCluster(settings).down()
        finally:
            shutil.rmtree(home, ignore_errors=True)


def base_environment(extra: dict[str, str]) -> dict[str, str]:
    """The test process's environment without any SUBLEDGER_* leaking in, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUBLEDGER_", "DAGSTER_"))}
    env.update({"PYTHONUNBUFFERED": "1", "DAGSTER_DISABLE_TELEMETRY": "1"})
    env.update(extra)
    return env


def write_workspace(path: Path, *, real: bool = True, probes: bool = False) -> Path:
    """A workspace.yaml with the real code location and/or the test-only probes location."""
    entries: list[dict[str, Any]] = []
    if real:
        entries.append({"python_module": {"module_name": "ledger_pipelines.defs.definitions", "attribute": "defs",
                                          "location_name": "subledger", "working_directory": str(REPO)}})
    if probes:
        entries.append({"python_file": {"relative_path": str(PROBES), "attribute": "defs",
                                        "location_name": "subledger_test_probes", "working_directory": str(REPO)}})
    path.write_text(yaml.safe_dump({"load_from": entries}, sort_keys=False))
    return path


@dataclass
class ManagedProcess:
    name: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- last output of {self.name} ({self.log_path}) ---\n{text[-chars:]}"


@dataclass
class Processes:
    """Starts processes in their own process groups; :meth:`stop_all` ends each group it started."""

    folder: Path
    started: list[ManagedProcess] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path = REPO) -> ManagedProcess:
        log_path = self.folder / f"{name}.log"
        handle = open(log_path, "wb")
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        handle.close()
        managed = ManagedProcess(name, process, log_path)
        self.started.append(managed)
        return managed

    def diagnostics(self) -> str:
        return "\n".join(p.log_tail() for p in self.started)

    def stop(self, managed: ManagedProcess, sig: int = signal.SIGTERM, timeout: float = 45) -> int | None:
        process = managed.process
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        _killpg(process.pid, signal.SIGKILL)  # anything left in its group
        return process.returncode

    def stop_all(self) -> None:
        for managed in reversed(self.started):
            self.stop(managed)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def graphql(url: str, query: str, variables: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
    """POST a GraphQL document to the webserver; return ``data`` or raise with the errors."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(url.rstrip("/") + "/graphql", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            document = json.load(response)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"GraphQL HTTP {exc.code}: {exc.read()[:2000]!r}") from exc
    if document.get("errors"):
        raise AssertionError(f"GraphQL errors: {json.dumps(document['errors'])[:2000]}")
    return document["data"]


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
