"""A daemon left alone (issue 14): `subledger dev` after a built warehouse relaunches nothing, picks up
a backdated file, restates and republishes by itself, and `subledger verify` tells the truth at
every moment -- the published warehouse is either current and consistent, or verify says it is
stale; it never passes on something stale and never shows reports of another generation.

Everything is real: the embedded Postgres (ledger and Dagster instance storage), `subledger run`,
`subledger dev` (webserver, daemon, code server, run workers), `subledger verify`, DuckDB and dbt.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from tests.platform.conftest import VENV_BIN, Processes, artifact_dir, base_environment, free_port, platform_home, wait_for

pytestmark = pytest.mark.slow

RUN_JOBS = ("ingest_landed_files", "refresh_warehouse", "ingest_outbox")


def journal(event_id: str, at: datetime, amount: int) -> dict:
    return {"event_id": event_id, "event_type": "journal.posted", "effective_at": at.isoformat(),
            "payload": {"legs": [{"account": "assets:cash:operating", "direction": "debit", "amount": amount, "currency": "USD"},
                                 {"account": "revenue:services", "direction": "credit", "amount": amount, "currency": "USD"}]}}


def land(folder, name: str, events: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"{name}.part"
    part.write_text("".join(json.dumps(e) + "\n" for e in events))
    part.rename(folder / name)


def verify(env: dict[str, str]) -> dict:
    done = subprocess.run([str(VENV_BIN / "subledger"), "verify", "--json"], env=env, capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    assert (done.returncode == 0) == report["passed"], done.stderr
    return report


def failing(report: dict) -> list[str]:
    return sorted(c["check"] for c in report["checks"] if not c["passed"])


def runs_by_job(instance) -> dict[str, list]:
    return {job: [r for r in instance.get_runs(limit=200) if r.job_name == job] for job in RUN_JOBS}


def test_a_daemon_left_alone_keeps_the_published_warehouse_current_and_verify_truthful(monkeypatch):
    from dagster import DagsterInstance, DagsterRunStatus

    from ledger_pipelines.platform.instance import dagster_environment

    folder = artifact_dir("unattended")
    now = datetime.now(UTC)
    with platform_home("subledger-unattended-") as ph:
        env = base_environment(ph.environ)
        landing = ph.settings.landing_dir
        land(landing, "opening.jsonl", [journal(f"open-{n}", now - timedelta(days=40 - n), 1_000 + n) for n in range(20)])
        built = subprocess.run([str(VENV_BIN / "subledger"), "run"], env=env, capture_output=True, text=True, timeout=900)
        assert built.returncode == 0, built.stderr[-4000:]
        assert failing(verify(env)) == []

        dsns = ph.cluster.dsns()
        for name, value in dagster_environment(ph.settings, dsns).items():
            monkeypatch.setenv(name, value)
        instance = DagsterInstance.from_config(str(ph.settings.dagster_home))
        before = {job: len(found) for job, found in runs_by_job(instance).items()}  # what `subledger run` did
        processes = Processes(folder)
        port = free_port()
        dev = processes.start("subledger-dev", [str(VENV_BIN / "subledger"), "dev", "--port", str(port)], env)
        try:
            wait_for(lambda: f"Dagster UI: http://127.0.0.1:{port}" in dev.log_path.read_text(errors="replace"),
                     timeout=300, what="`subledger dev` to start", diagnostics=processes.diagnostics)

            # 1. left alone on a current warehouse: the sensors tick (landing 10 s, outbox 30 s, freshness
            # 60 s) and launch nothing -- no run per already-ingested file, no refresh, no empty outbox run
            time.sleep(100)
            assert {job: len(found) for job, found in runs_by_job(instance).items()} == before
            assert failing(verify(env)) == []

            # 2. a backdated file: ingested, then ONE refresh restates and republishes; verify is truthful throughout
            land(landing, "late.jsonl", [journal(f"late-{n}", now - timedelta(days=35, hours=n), 500) for n in range(3)])
            seen: list[list[str]] = []

            def refreshed():
                report = verify(env)
                seen.append(failing(report))
                assert failing(report) in ([], ["warehouse_fresh"]), report  # stale is said, nothing else ever fails
                refresh = [r for r in runs_by_job(instance)["refresh_warehouse"] if r.is_finished]
                return refresh and not failing(report)

            wait_for(refreshed, timeout=900, interval=5, what="the freshness sensor's refresh to publish the late file",
                     diagnostics=processes.diagnostics)
            assert ["warehouse_fresh"] in seen  # verify did say stale before the refresh finished
            runs = runs_by_job(instance)
            assert len(runs["ingest_landed_files"]) == before["ingest_landed_files"] + 1
            refresh = runs["refresh_warehouse"]
            assert len(refresh) == before["refresh_warehouse"] + 1 and refresh[0].status == DagsterRunStatus.SUCCESS
            assert len(runs["ingest_outbox"]) == before["ingest_outbox"]
            with duckdb.connect(str(ph.settings.duckdb_path), read_only=True) as con:
                restated = con.execute("SELECT count(*), min(as_of_date) FROM analytics.restatements").fetchone()
                builds = dict(con.execute("SELECT product, watermark FROM warehouse_meta.builds").fetchall())
            assert restated[0] > 0 and restated[1] in {(now - timedelta(days=35, hours=h)).date() for h in range(3)}
            assert len(set(builds.values())) == 1  # snapshots and reports of one generation

            # 3. a clean stop
            assert processes.stop(dev, signal.SIGTERM, timeout=90) == 0
        finally:
            processes.stop_all()
            instance.dispose()
