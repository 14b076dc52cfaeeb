"""The landing folder as an attacker or a careless producer uses it (docs/security.md, "Landing folder and
ingestion"): names with spaces and accents, partition keys that leave the folder, symbolic links, FIFOs,
and the first sensor tick after files were ingested already. Real Dagster, real Postgres."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from ledger_pipelines.defs.ingestion.partitions import landed_files_partitions, partition_key_for, relative_path_of
from ledger_pipelines.defs.runner import Stage, _dynamic_partitions, landed_file_keys
from ledger_pipelines.ingest import landing
from ledger_pipelines.ingest.ingestor import file_hash, ingest_paths, landed_files
from tests.ingest.test_dagster_ingestion import _invoice, _land, _materialize, _tick, posted_batches

PARTITIONS = landed_files_partitions.name
SECRET = b'{"superuser_password": "hunter2-do-not-leak"}\n'


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def _posted(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT idempotency_key FROM ledger.transactions").fetchall()}


def _quarantine(dsn: str) -> list[dict]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT source_name, seq, reason_code, message, raw, file_path, file_sha256, file_bytes "
                            "FROM ingest.quarantine ORDER BY source_name").fetchall()
    return [dict(zip(("source_name", "seq", "reason_code", "message", "raw", "file_path", "file_sha256", "file_bytes"),
                     (*r[:4], bytes(r[4]), *r[5:]), strict=True)) for r in rows]


def _nothing_leaked(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        leaked = conn.execute("SELECT count(*) FROM ingest.quarantine WHERE position(%s::bytea IN raw) > 0 "
                              "OR message LIKE '%%hunter2%%'", [b"hunter2"]).fetchone()[0]
    assert leaked == 0, "bytes from outside the landing folder reached ingest.quarantine"


# -- A1: every landed file, whatever its name, is its own partition ---------------------------------

@pytest.mark.parametrize("name", ["march 2026.jsonl", "mär\u00e7h_2026.jsonl", "a...b.jsonl", "x%41@y.jsonl", "tab\there.jsonl"])
def test_partition_keys_decode_to_exactly_the_file_name_and_dagster_accepts_them(name, instance):
    key = partition_key_for(name, "0" * 64)
    assert relative_path_of(key) == name
    instance.add_dynamic_partitions(PARTITIONS, [key])  # Dagster refuses '...' and control characters in keys
    assert instance.has_dynamic_partition(PARTITIONS, key)


def test_a_file_named_with_a_space_or_accent_is_ingested_beside_its_underscore_sibling(ingest_env, ledger_db, instance):
    landing_dir = ingest_env.landing_dir
    _land(landing_dir, "march 2026.jsonl", [_invoice("space_1", "2024-03-01")])
    _land(landing_dir, "march_2026.jsonl", [_invoice("underscore_1", "2024-03-02")])
    _land(landing_dir, "m\u00e4rz.jsonl", [_invoice("accent_1", "2024-03-03")])  # no sibling: once "gone from the folder"
    keys = sorted(r.partition_key for r in _tick(instance, None).run_requests)
    assert len(keys) == 3
    for key in keys:
        assert _materialize(instance, posted_batches, key).success, key
    assert _posted(ledger_db.dsn) == {"space_1", "underscore_1", "accent_1"}
    with psycopg.connect(ledger_db.dsn) as conn:
        names = sorted(Path(r[0]).name for r in conn.execute("SELECT source_name FROM ingest.batches").fetchall())
    assert names == ["march 2026.jsonl", "march_2026.jsonl", "m\u00e4rz.jsonl"]


# -- A2: nothing is read from outside the landing folder ---------------------------------------------

def test_a_partition_key_that_leaves_the_landing_folder_reads_nothing(ingest_env, ledger_db, instance):
    outside = ingest_env.home / "outside.jsonl"
    outside.write_bytes(json.dumps(_invoice("outside_1", "2024-03-01")).encode() + b"\n")
    key = partition_key_for("../outside.jsonl", file_hash(outside))
    instance.add_dynamic_partitions(PARTITIONS, [key])
    result = _materialize(instance, posted_batches, key, raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("ledger__posted_batches")
    assert failure is not None and "does not name a file in the landing folder" in failure.error.message
    assert _posted(ledger_db.dsn) == set() and _quarantine(ledger_db.dsn) == []


def test_a_symlink_in_the_landing_folder_is_quarantined_whole_and_its_target_never_read(ingest_env, ledger_db, instance):
    secret = ingest_env.home / "cluster.json"
    secret.write_bytes(SECRET)
    for name, target in (("steal.jsonl", secret), ("shadow.csv", Path("/etc/shadow"))):
        link = ingest_env.landing_dir / name
        link.symlink_to(target)
        os.utime(link, (0, 0), follow_symlinks=False)  # settled long ago
    [key_csv, key_jsonl] = sorted(r.partition_key for r in _tick(instance, None).run_requests)
    for key in (key_csv, key_jsonl):
        assert _materialize(instance, posted_batches, key).success
    entries = _quarantine(ledger_db.dsn)
    assert [(Path(e["source_name"]).name, e["reason_code"]) for e in entries] == [
        ("shadow.csv", "unreadable_file"), ("steal.jsonl", "unreadable_file")]
    for entry in entries:
        assert "symbolic link" in entry["message"] and entry["raw"] == b""
        assert entry["file_path"] == entry["source_name"] and entry["file_sha256"] is None and entry["file_bytes"] is None
    _nothing_leaked(ledger_db.dsn)


def test_folder_scans_do_not_follow_links_and_special_files_are_quarantined_not_lost(ingest_env, ledger_db, tmp_path):
    folder = ingest_env.landing_dir
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "events.jsonl").write_bytes(json.dumps(_invoice("elsewhere_1", "2024-03-01")).encode() + b"\n")
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)  # a symlinked folder is never entered
    os.mkfifo(folder / "pipe.jsonl")  # reading it would block forever
    _land(folder, "good.jsonl", [_invoice("good_1", "2024-03-02")])
    assert sorted(p.name for p in landed_files([folder])) == ["good.jsonl", "pipe.jsonl"]

    reports = {Path(r.source_name).name: r for r in ingest_paths(ingest_env, [folder])}
    assert reports["good.jsonl"].posted == 1
    assert reports["pipe.jsonl"].reasons == {"unreadable_file": 1}
    [entry] = _quarantine(ledger_db.dsn)
    assert "named pipe (FIFO), not a regular file" in entry["message"]
    assert _posted(ledger_db.dsn) == {"good_1"}
    assert ingest_paths(ingest_env, [folder])[1].skipped  # the refused entry is claimed once, like a file


def test_subledger_ingest_of_an_explicit_fifo_or_device_quarantines_it_instead_of_hanging(ingest_env, ledger_db, tmp_path):
    fifo = tmp_path / "named.jsonl"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "ledger_pipelines.cli", "ingest", str(fifo), "/dev/zero", "--json"],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout) == {"events": 2, "posted": 0, "pending": 0, "duplicate": 0, "quarantined": 2}
    messages = sorted(e["message"] for e in _quarantine(ledger_db.dsn))
    assert "is a device, not a regular file" in messages[0] and "is a named pipe (FIFO)" in messages[1]


def test_an_explicit_symlink_argument_is_the_operators_choice(ingest_env, ledger_db, tmp_path):
    target = tmp_path / "real.jsonl"
    target.write_bytes(json.dumps(_invoice("chosen_1", "2024-03-01")).encode() + b"\n")
    link = tmp_path / "chosen.jsonl"
    link.symlink_to(target)
    [report] = ingest_paths(ingest_env, [link])
    assert report.posted == 1 and _posted(ledger_db.dsn) == {"chosen_1"}
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "inside.jsonl").write_bytes(json.dumps(_invoice("inside_1", "2024-03-02")).encode() + b"\n")
    (tmp_path / "folder_link").symlink_to(folder, target_is_directory=True)
    [inside] = ingest_paths(ingest_env, [tmp_path / "folder_link"])  # a linked folder named here is scanned
    assert inside.posted == 1 and Path(inside.source_name) == folder / "inside.jsonl"


def test_a_file_behind_a_symlinked_folder_is_refused_even_when_named_by_key(ingest_env, ledger_db, instance, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.jsonl").write_bytes(SECRET)
    (ingest_env.landing_dir / "sub").symlink_to(elsewhere, target_is_directory=True)
    key = partition_key_for("sub/x.jsonl", "0" * 64)
    instance.add_dynamic_partitions(PARTITIONS, [key])
    assert _materialize(instance, posted_batches, key).success
    [entry] = _quarantine(ledger_db.dsn)
    assert "behind a symbolic link to a folder" in entry["message"] and entry["raw"] == b""
    _nothing_leaked(ledger_db.dsn)


# -- A3: the sensor starts from what the ledger holds ------------------------------------------------

def test_the_first_sensor_tick_requests_no_run_for_content_already_ingested(ingest_env, ledger_db, instance, monkeypatch):
    landing_dir = ingest_env.landing_dir
    _land(landing_dir, "done.jsonl", [_invoice("done_1", "2024-03-01")])
    _land(landing_dir, "broken.jsonl.gz", [_invoice("broken_1", "2024-03-01")])  # plain text named .gz: unreadable
    ingest_paths(ingest_env, [landing_dir])  # e.g. `subledger demo`, before the first `subledger dev`
    fresh = _land(landing_dir, "fresh.jsonl", [_invoice("fresh_1", "2024-03-02")])

    hashed: list[Path] = []
    real_identify = landing.identify
    monkeypatch.setattr("ledger_pipelines.defs.ingestion.sensors.identify",
                        lambda path, root=None: hashed.append(path) or real_identify(path, root))
    first = _tick(instance, None)
    assert [r.partition_key for r in first.run_requests] == [partition_key_for("fresh.jsonl", file_hash(fresh))]
    assert len(hashed) == 3

    hashed.clear()
    second = _tick(instance, first.cursor)  # unchanged files are not hashed again
    assert second.run_requests == [] and hashed == []
    _land(landing_dir, "done.jsonl", [_invoice("done_1", "2024-03-01"), _invoice("done_2", "2024-03-03")], age=30)
    third = _tick(instance, second.cursor)
    assert [Path(relative_path_of(r.partition_key)).name for r in third.run_requests] == ["done.jsonl"]
    assert hashed == [landing_dir / "done.jsonl"]


def test_subledger_run_picks_the_files_the_sensor_picks(ingest_env, ledger_db, instance):
    """One rule for both (R12): a landed file needs a run while no file batch has claimed its content,
    whatever Dagster recorded -- a file ingested by `subledger ingest` is not run again by `subledger run`."""
    landing_dir = ingest_env.landing_dir
    _land(landing_dir, "done.jsonl", [_invoice("done_1", "2024-03-01")])
    ingest_paths(ingest_env, [landing_dir])
    fresh = _land(landing_dir, "fresh.jsonl", [_invoice("fresh_1", "2024-03-02")])
    stage = Stage((posted_batches.key,), landed_files_partitions)
    wanted = [partition_key_for("fresh.jsonl", file_hash(fresh))]
    assert _dynamic_partitions(stage, instance, ingest_env) == wanted
    assert [r.partition_key for r in _tick(instance, None).run_requests] == wanted
    assert set(instance.get_dynamic_partitions(PARTITIONS)) == set(landed_file_keys(ingest_env))  # both registered


# -- the data directory is private ---------------------------------------------------------------------

def test_the_home_is_private_and_the_server_can_still_reach_its_data(pg_cluster, ledger_db, tmp_path):
    import pwd
    import stat as st

    from ledger_pipelines.config import write_home_setting

    home = pg_cluster.settings.home
    server = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    for folder in (home, home / "postgres"):
        mode = st.S_IMODE(folder.stat().st_mode)
        assert mode & 0o007 == 0, f"{folder} is open to other users ({oct(mode)})"
        assert mode == (0o710 if server else 0o700)
        if server:
            assert folder.stat().st_gid == server.pw_gid  # only the server's group may pass through
    assert st.S_IMODE((home / "postgres" / "cluster.json").stat().st_mode) == 0o600
    assert st.S_IMODE((home / "postgres" / "data").stat().st_mode) == 0o700
    with psycopg.connect(ledger_db.dsn) as conn:  # and the server runs on its data behind the private home
        assert conn.execute("SELECT 1").fetchone() == (1,)
    write_home_setting(tmp_path, "SUBLEDGER_DATABASE_URL", "postgresql://u:secret@h/db")
    assert st.S_IMODE((tmp_path / "settings.env").stat().st_mode) == 0o600
