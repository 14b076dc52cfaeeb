"""The daemon enforces the DuckDB pool across runs and across the processes of a multi-process run.

Real parts only: the embedded Postgres as Dagster's instance storage (the platform's own
``dagster.yaml``), the real ``dagster-daemon`` dequeuing runs submitted with ``dagster job
launch``, the multi-process executor, and probe assets that open a DuckDB file for writing
(DuckDB refuses a second writer process, so an overlap would also fail a step).
"""

from __future__ import annotations

import json
import subprocess
from itertools import combinations
from pathlib import Path

import duckdb
import pytest

from ledger_pipelines.platform.instance import DUCKDB_POOL, dagster_environment, initialise_instance, prepare_dagster_home
from tests.platform.conftest import VENV_BIN, Processes, artifact_dir, base_environment, platform_home, wait_for, write_workspace
from tests.platform.locations.probes import GATE_TAG

pytestmark = pytest.mark.slow

HOLD_SECONDS = 2.0
LOCATION = "subledger_test_probes"


def _launch(ws: Path, env: dict[str, str], job: str, tag: str, folder: Path, gate: Path | None = None) -> subprocess.Popen:
    log = open(folder / f"launch-{tag}.log", "wb")
    tags = {"probe": tag, **({GATE_TAG: str(gate)} if gate else {})}
    return subprocess.Popen(
        [str(VENV_BIN / "dagster"), "job", "launch", "-w", str(ws), "-l", LOCATION, "-j", job,
         "--tags", json.dumps(tags)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )


def _intervals(home: Path) -> list[dict]:
    path = home / "probe-intervals.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _overlaps(intervals: list[dict]) -> list[tuple[dict, dict]]:
    return [(a, b) for a, b in combinations(intervals, 2) if a["started"] < b["finished"] and b["started"] < a["finished"]]


def test_duckdb_pool_serialises_writers_across_runs_and_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    folder = artifact_dir("concurrency")
    with platform_home() as ph:
        dsns = ph.cluster.up()
        dagster_home = prepare_dagster_home(ph.settings)
        variables = {**ph.environ, **dagster_environment(ph.settings, dsns), "SUBLEDGER_PROBE_HOLD_SECONDS": str(HOLD_SECONDS)}
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        env = base_environment(variables)
        ws = write_workspace(folder / "workspace.yaml", real=False, probes=True)
        processes = Processes(folder)
        instance = DagsterInstance.from_config(str(dagster_home))
        try:
            initialise_instance(instance)
            assert instance.event_log_storage.get_concurrency_info(DUCKDB_POOL).slot_count == 1

            processes.start("daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", str(ws)], env)

            def run_tagged(tag: str):
                found = instance.get_runs(RunsFilter(tags={"probe": tag}))
                return found[0] if found else None

            def finished_runs():
                runs = instance.get_runs(RunsFilter(tags={"probe": ["pool-1", "pool-2", "mixed"]}))
                if len(runs) == 3 and all(r.is_finished for r in runs):
                    return runs
                return None

            def state() -> str:
                runs = instance.get_runs(RunsFilter(tags={"probe": ["pool-1", "pool-2", "mixed"]}))
                info = instance.event_log_storage.get_concurrency_info(DUCKDB_POOL)
                return (f"runs: {[(r.tags.get('probe'), r.status.value) for r in runs]}\n"
                        f"pool: claimed {info.claimed_slots} pending {info.pending_steps}\n{processes.diagnostics()}")

            # The first run takes the pool and keeps its writer on the file until the gate opens, so
            # what follows does not depend on how fast each `dagster job launch` happens to be.
            gate = folder / "gate"
            launches = [_launch(ws, env, "pool_probe", "pool-1", folder, gate=gate)]
            assert launches[0].wait(timeout=120) == 0, f"`dagster job launch` failed, see {folder}/launch-pool-1.log"
            first = wait_for(lambda: run_tagged("pool-1"), timeout=60, interval=1, what="the first run in storage")
            wait_for(lambda: first.run_id in instance.event_log_storage.get_concurrency_info(DUCKDB_POOL).active_run_ids,
                     timeout=180, interval=1, what="the first run's writer to hold the pool", diagnostics=state)

            launches += [_launch(ws, env, "mixed_probe", "mixed", folder), _launch(ws, env, "pool_probe", "pool-2", folder)]
            for launch in launches[1:]:
                assert launch.wait(timeout=120) == 0, f"`dagster job launch` failed, see {folder}/launch-*.log"
            mixed = wait_for(lambda: run_tagged("mixed"), timeout=60, interval=1, what="the mixed run in storage")

            # Serialised, not sequential by accident: while the first run's writer holds the pool,
            # a writer step of another run, already in progress, waits for the slot.
            def mixed_waits_for_the_pool() -> bool:
                info = instance.event_log_storage.get_concurrency_info(DUCKDB_POOL)
                return mixed.run_id in info.pending_run_ids and info.active_run_ids == {first.run_id}

            wait_for(mixed_waits_for_the_pool, timeout=180, interval=0.5,
                     what="a writer of the mixed run to wait for the pool the first run holds", diagnostics=state)
            gate.touch()

            runs = wait_for(finished_runs, timeout=240, interval=2, what="the three probe runs to finish", diagnostics=state)
            assert all(r.status == DagsterRunStatus.SUCCESS for r in runs), state()

            # Every run went through the queue: the daemon, not the launcher, started them.
            for run in runs:
                records = instance.all_logs(run.run_id)
                kinds = [r.dagster_event.event_type_value for r in records if r.dagster_event]
                assert "PIPELINE_ENQUEUED" in kinds and "PIPELINE_STARTING" in kinds, kinds
                assert kinds.index("PIPELINE_ENQUEUED") < kinds.index("PIPELINE_STARTING"), kinds

            intervals = _intervals(ph.home)
            pooled = [i for i in intervals if i["pool"] == DUCKDB_POOL]
            free = [i for i in intervals if i["pool"] is None]
            (folder / "intervals.json").write_text(json.dumps(sorted(intervals, key=lambda i: i["started"]), indent=2))
            assert len(pooled) == 6 and len(free) == 2, intervals

            # 1. No two DuckDB writers ever held the file at the same time, across all three runs.
            overlapping = _overlaps(pooled)
            assert not overlapping, f"DuckDB writers overlapped despite pool {DUCKDB_POOL}: {overlapping}"
            # ... and all six writes landed in the one DuckDB file (no lock error anywhere).
            with duckdb.connect(str(ph.home / "probe-warehouse.duckdb"), read_only=True) as conn:
                assert conn.execute("SELECT count(*) FROM writes").fetchone()[0] == 6

            # 2. The executor is really multi-process and parallel: the steps of a run ran in
            #    different processes, and the two steps without a pool ran at the same time.
            for run in runs:
                pids = {i["pid"] for i in intervals if i["run_id"] == run.run_id}
                assert len(pids) == len([i for i in intervals if i["run_id"] == run.run_id]), pids
            assert _overlaps(free), f"the multi-process executor did not run the free steps in parallel: {free}"

            # ... and so the two runs were in progress together.
            spans = {r.run_id: (instance.get_run_record_by_id(r.run_id).start_time,
                                instance.get_run_record_by_id(r.run_id).end_time) for r in runs}
            assert any(a[0] < b[1] and b[0] < a[1] for a, b in combinations(spans.values(), 2)), spans

            # Control: with the pool limit raised to 2, the same run puts two writers on the file
            # at once and DuckDB refuses the second one. The pool is what keeps the warehouse safe.
            instance.event_log_storage.set_concurrency_slots(DUCKDB_POOL, 2)
            control = _launch(ws, env, "pool_probe", "control", folder)
            assert control.wait(timeout=120) == 0

            def control_run():
                found = instance.get_runs(RunsFilter(tags={"probe": "control"}))
                return found[0] if found and found[0].is_finished else None

            run = wait_for(control_run, timeout=120, interval=2, what="the control run", diagnostics=state)
            messages = " ".join(
                r.user_message or "" for r in instance.all_logs(run.run_id)
            ) + json.dumps([e for e in _intervals(ph.home) if e["run_id"] == run.run_id])
            assert run.status == DagsterRunStatus.FAILURE or _overlaps(
                [i for i in _intervals(ph.home) if i["run_id"] == run.run_id]
            ), f"without the pool the two writers were expected to collide: {run.status} {messages[:2000]}"
        finally:
            instance.dispose()
            processes.stop_all()
