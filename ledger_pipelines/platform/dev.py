"""``subledger dev``: the Dagster webserver and daemon on the platform's instance, on 127.0.0.1.

Runs ``dagster dev`` (webserver + daemon sharing one code server) as a child process in its own
session, so that a Ctrl-C in the terminal reaches only us and we stop the services in order:
SIGINT to ``dagster dev`` (which shuts the webserver, daemon and code server down), then, after
a grace period, SIGTERM and SIGKILL to whatever is left of its process group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from ledger_pipelines.config import Settings
from ledger_pipelines.platform.instance import CODE_LOCATION

HOST = "127.0.0.1"
DEFAULT_PORT = 3000
STARTUP_TIMEOUT = 300.0
GRACEFUL_STOP_SECONDS = 30.0

REPO_ROOT = Path(__file__).resolve().parents[2]


def project_workspace(settings: Settings) -> Path:
    """The project's ``workspace.yaml``; when the package runs from an installed wheel (no repo
    checkout), an equivalent file written under ``$SUBLEDGER_HOME/dagster``."""
    in_repo = REPO_ROOT / "workspace.yaml"
    if in_repo.is_file():
        return in_repo
    generated = settings.dagster_home / "workspace.yaml"
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_module": {
                            "module_name": "ledger_pipelines.defs.definitions",
                            "attribute": "defs",
                            "location_name": CODE_LOCATION,
                        }
                    }
                ]
            },
            sort_keys=False,
        )
    )
    return generated


# Warnings Dagster prints in every one of its processes that an operator cannot act on: the instance's
# structured-log handler (python_logs.dagster_handler_config) is a beta option, and `dagster dev` says
# `dg dev` supersedes it (dg is a separate CLI for dg-scaffolded projects; this project is not one).
QUIET_WARNINGS = ("ignore:Handling yaml-defined logging configuration", "ignore:Function `dev_command` is superseded")


def quiet_warnings(existing: str | None) -> str:
    """``PYTHONWARNINGS`` for the Dagster processes: the operator's own filters, then :data:`QUIET_WARNINGS`."""
    return ",".join([*filter(None, [existing]), *QUIET_WARNINGS])


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def describe_storage(url: str) -> str:
    """``host:port/database`` of a Postgres URL: what may be printed (no user, no password)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


class DagsterDev:
    """One ``dagster dev`` child: start, wait until the UI answers, stop cleanly."""

    def __init__(
        self,
        workspace: Path,
        port: int,
        env: Mapping[str, str],
        *,
        log_format: str = "colored",
        stdout=None,
        stderr=None,
    ):
        self.workspace = workspace
        self.port = port
        self.env = dict(env)
        self.log_format = log_format
        self.stdout = stdout
        self.stderr = stderr
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "dagster", "dev",
            "--workspace", str(self.workspace),
            "--host", HOST,
            "--port", str(self.port),
            "--log-format", self.log_format,
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.workspace.parent,
            env={**self.env, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": quiet_warnings(self.env.get("PYTHONWARNINGS"))},
            stdout=self.stdout,
            stderr=self.stderr,
            start_new_session=True,
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT, cancelled: threading.Event | None = None) -> bool:
        """Wait until the webserver answers ``/server_info``. False if cancelled or the child died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cancelled is not None and cancelled.is_set():
                return False
            if not self.running():
                return False
            try:
                with urllib.request.urlopen(self.url + "/server_info", timeout=2) as response:
                    json.load(response)
                    return True
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(0.5)
        raise TimeoutError(f"the Dagster webserver did not answer on {self.url} within {timeout:.0f} s")

    def stop(self, grace: float = GRACEFUL_STOP_SECONDS) -> int | None:
        """Stop the webserver and the daemon: SIGINT (graceful), then SIGTERM/SIGKILL the group."""
        process = self.process
        if process is None:
            return None
        pgid = process.pid  # the child leads its own session and process group
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(pgid, signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _signal_group(pgid, signal.SIGKILL)
                    process.wait(timeout=5)
        # Whatever is left of the group (a code server or run worker that outlived its parent).
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(pgid, signal.SIGKILL)
        return process.returncode


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
