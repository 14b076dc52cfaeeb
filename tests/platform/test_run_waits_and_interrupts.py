"""`subledger run` and the DuckDB pool slot (issue 14, finding 4): a slot left by a run that died is
freed; a slot held by a live run is waited for with a message saying who holds it; Ctrl-C and
SIGTERM stop the command within seconds, cancel its run and free its slots.

Real parts: a fresh home with its embedded Postgres (the Dagster instance storage too), the real
`subledger` command in a child process, Dagster's own concurrency tables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ledger_pipelines.platform.instance import (
    DUCKDB_POOL,
    RUN_HOST_TAG,
    RUN_PID_TAG,
    dagster_environment,
    initialise_instance,
    prepare_dagster_home,
)
from tests.platform.conftest import VENV_BIN, base_environment, platform_home, wait_for

pytestmark = pytest.mark.slow

EVENTS = (
    '{"event_id": "j-1", "event_type": "journal.posted", "effective_at": "2024-03-05", '
    '"payload": {"legs": [{"account": "assets:cash", "direction": "debit", "amount": 500, "currency": "USD"}, '
    '{"account": "equity:capital", "direction": "credit", "amount": 500, "currency": "USD"}]}}\n'
)


def _instance(settings, dsns, monkeypatch):
    from dagster import DagsterInstance

    for name, value in dagster_environment(settings, dsns).items():
        monkeypatch.setenv(name, value)
    instance = DagsterInstance.from_config(str(prepare_dagster_home(settings)))
    initialise_instance(instance)
    return instance


def _hold_slot(instance, *, tags: dict[str, str]) -> str:
    """A run in STARTED state that holds the DuckDB pool slot (as a run killed mid-step leaves it)."""
    from dagster import DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    run = create_run_for_test(instance, job_name="refresh_warehouse", status=DagsterRunStatus.STARTED, tags=tags)
    instance.event_log_storage.claim_concurrency_slot(DUCKDB_POOL, run.run_id, "warehouse__ledger_mirror")
    assert instance.event_log_storage.get_concurrency_info(DUCKDB_POOL).active_run_ids == {run.run_id}
    return run.run_id


def _run_command(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(VENV_BIN / "subledger"), "run", "--select", "key:warehouse/ledger_mirror"],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))


def test_a_dead_runs_slot_is_freed_and_a_live_holder_is_waited_for_until_a_signal(monkeypatch, tmp_path):
    from dagster import DagsterRunStatus

    with platform_home() as ph:
        dsns = ph.cluster.up()
        landing = ph.settings.landing_dir
        landing.mkdir(parents=True, exist_ok=True)
        (landing / "opening.jsonl").write_text(EVENTS)
        env = base_environment(ph.environ)
        instance = _instance(ph.settings, dsns, monkeypatch)
        try:
            # 1. a run launched by a daemon that is gone (no heartbeat): its slot is freed, the run marked failed
            orphan = _hold_slot(instance, tags={})
            done = subprocess.run([str(VENV_BIN / "subledger"), "run", "--select", "key:warehouse/ledger_mirror"], env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr[-3000:]
            assert f"freed the pool slots of run {orphan[:8]}" in done.stderr and "no daemon" in done.stderr
            assert instance.get_run_by_id(orphan).status == DagsterRunStatus.FAILURE

            for sig, code in ((signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 128 + signal.SIGINT)):
                # 2. a live holder (a process that is running): the command waits and says for whom
                holder = subprocess.Popen(["sleep", "600"])
                try:
                    live = _hold_slot(instance, tags={RUN_PID_TAG: str(holder.pid), RUN_HOST_TAG: os.uname().nodename})
                    log = tmp_path / f"run-{sig.name}.log"
                    command = _run_command(env, log)
                    expected = "waiting: pool duckdb_warehouse is held by run " + live[:8]
                    wait_for(lambda log=log, expected=expected: expected in log.read_text(),
                             timeout=240, what="the waiting message", diagnostics=log.read_text)
                    # 3. the signal stops it within seconds, its run canceled and its slots freed
                    sent = time.monotonic()
                    command.send_signal(sig)
                    assert command.wait(timeout=30) == code
                    assert time.monotonic() - sent < 10
                    assert f"interrupted ({sig.name})" in log.read_text()
                    [ours] = [r for r in instance.get_runs(limit=5) if r.tags.get(RUN_PID_TAG) == str(command.pid)]
                    assert ours.status == DagsterRunStatus.CANCELED
                    info = instance.event_log_storage.get_concurrency_info(DUCKDB_POOL)
                    assert ours.run_id not in info.active_run_ids | info.pending_run_ids
                    assert info.active_run_ids == {live}  # the live holder keeps its slot
                finally:
                    holder.kill()
                    holder.wait()
                instance.event_log_storage.free_concurrency_slots_for_run(live)
        finally:
            instance.dispose()
