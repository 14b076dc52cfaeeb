"""A crash at any point leaves the ledger consistent; a rerun finishes the work exactly once.

Ingesters run as real processes (`subledger ingest`) killed with SIGKILL -- at named points
(``SUBLEDGER_FAILPOINT``: after parsing, mid-COPY, before/after commit) and at random moments --
then rerun; the ledger must equal the one an uninterrupted run produced. Two processes ingesting
overlapping files at the same time must post every event exactly once.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ledger_pipelines.generate import generate
from tests.conftest import drop_database, make_database
from tests.ingest.conftest import assert_consistent, ledger_snapshot

pytestmark = pytest.mark.slow

FAILPOINTS = [
    "ingest.after_parse",
    "copy:ledger.transactions",
    "copy:ledger.entries",
    "copy:ingest.quarantine",
    "ingest.before_finish",
    "ingest.before_commit",
    "ingest.after_commit",
]


@pytest.fixture(scope="module")
def landing() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="subledger-crash-landing-"))
    generate(folder, subscriptions=25, months=3, seed=5)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _env(db, home: Path, failpoint: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBLEDGER_")}
    env.update(SUBLEDGER_HOME=str(home), SUBLEDGER_DATABASE_URL=db.dsn)
    if failpoint:
        env["SUBLEDGER_FAILPOINT"] = failpoint
    return env


def _ingest(db, home: Path, paths: list[Path], failpoint: str | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ledger_pipelines.cli", "ingest", *map(str, paths), "--json"],
        env=_env(db, home, failpoint), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


@pytest.fixture
def databases(pg_cluster):
    made = []

    def new():
        db = make_database(pg_cluster)
        made.append(db)
        return db

    yield new
    for db in made:
        drop_database(pg_cluster, db.name)


@pytest.fixture(scope="module")
def reference(pg_cluster, landing, tmp_path_factory):
    db = make_database(pg_cluster)
    home = tmp_path_factory.mktemp("ref")
    process = _ingest(db, home, [landing])
    process.communicate(timeout=300)
    snapshot = ledger_snapshot(db.dsn)
    drop_database(pg_cluster, db.name)
    assert snapshot["transactions"], "the reference run posted nothing"
    return snapshot


@pytest.mark.parametrize("failpoint", FAILPOINTS)
def test_kill_at_a_named_point_then_rerun_equals_an_uninterrupted_run(failpoint, databases, landing, reference, tmp_path):
    db = databases()
    killed = _ingest(db, tmp_path, [landing], failpoint)
    killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL, f"the failpoint {failpoint} was never reached"
    assert_consistent(db.dsn)  # whatever was committed before the kill is consistent
    rerun = _ingest(db, tmp_path, [landing])
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode in (0, 1), err.decode()
    assert ledger_snapshot(db.dsn) == reference
    assert_consistent(db.dsn)


def test_kill_at_random_moments_then_rerun_equals_an_uninterrupted_run(databases, landing, reference, tmp_path):
    rng = random.Random(20261124)
    db = databases()
    for _ in range(4):
        process = _ingest(db, tmp_path, [landing])
        time.sleep(rng.uniform(0.5, 4.0))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=300)
        assert_consistent(db.dsn)
    final = _ingest(db, tmp_path, [landing])
    final.communicate(timeout=300)
    assert ledger_snapshot(db.dsn) == reference


def test_two_ingesters_with_overlapping_files_post_every_event_once(databases, landing, reference, tmp_path):
    db = databases()
    files = sorted(p for p in landing.iterdir() if not p.name.startswith("."))
    # Same files in opposite orders, plus a copy of one under another name (same content hash).
    copy = tmp_path / "copy" / files[0].name
    copy.parent.mkdir()
    shutil.copy(files[0], copy)
    one = _ingest(db, tmp_path / "a", files)
    two = _ingest(db, tmp_path / "b", [*reversed(files), copy])
    for process in (one, two):
        _, err = process.communicate(timeout=300)
        assert process.returncode in (0, 1), err.decode()
    snapshot = ledger_snapshot(db.dsn)
    assert snapshot["transactions"] == reference["transactions"]
    assert snapshot["entries"] == reference["entries"]
    assert snapshot["balances"] == reference["balances"]
    assert len(snapshot["batches"]) == len(files)  # each content ingested by exactly one of them
    assert_consistent(db.dsn)
