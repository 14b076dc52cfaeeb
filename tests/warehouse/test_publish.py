"""Readers never break writers: finance holds the published file open while a run publishes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

from ledger_pipelines.warehouse.publish import open_published, publish
from tests.warehouse.conftest import build
from tests.warehouse.ledgen import RandomLedger

REPO = Path(__file__).resolve().parents[2]
START = date(2024, 3, 3)
LAST = date(2024, 3, 20)

READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import duckdb
    published, stop = Path(sys.argv[1]), Path(sys.argv[2])
    conn = duckdb.connect(str(published), read_only=True)  # held open for the whole run
    query = "SELECT count(*), sum(amount) FROM analytics.entries"
    print(json.dumps({"ready": conn.execute(query).fetchall()[0]}), flush=True)
    seen, errors = set(), []
    deadline = time.time() + 120
    while not stop.exists() and time.time() < deadline:
        try:
            seen.add(tuple(conn.execute(query).fetchall()[0]))
            conn.execute("SELECT count(*) FROM analytics.account_balance_snapshots").fetchall()
        except Exception as exc:
            errors.append(repr(exc))
        time.sleep(0.02)
    conn.close()
    again = duckdb.connect(str(published), read_only=True)
    print(json.dumps({"seen": sorted(seen), "errors": errors, "after_reopen": again.execute(query).fetchall()[0]}), flush=True)
""")


def test_a_reader_holding_the_published_file_does_not_break_a_run(ledger_db, files):
    gen = RandomLedger(ledger_db.writer_dsn, seed=41, days=20)
    gen.batch(40, moves=5)
    build(ledger_db, files.work, tz="UTC", start=START, last=LAST)
    publish(files.work, files.published)
    stop = files.published.with_name("stop-reader")
    reader = subprocess.Popen([sys.executable, "-c", READER, str(files.published), str(stop)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        before = tuple(json.loads(reader.stdout.readline())["ready"])
        gen.batch(30, moves=10)
        build(ledger_db, files.work, tz="UTC", start=START, last=LAST)  # a materialisation while the reader holds the file
        publish(files.work, files.published)
        time.sleep(0.3)  # the reader keeps querying its (old) version after the swap
        stop.touch()
        report = json.loads(reader.stdout.readline())
    finally:
        reader.wait(timeout=60)
    assert reader.returncode == 0, reader.stderr.read()
    assert report["errors"] == []
    assert [tuple(s) for s in report["seen"]] == [before]  # a consistent old version throughout
    with open_published(files.published) as conn:
        now = tuple(conn.execute("SELECT count(*), sum(amount) FROM analytics.entries").fetchall()[0])
    assert tuple(report["after_reopen"]) == now != before  # reconnecting shows the new version
    assert not list(files.published.parent.glob(".warehouse.duckdb.*.tmp"))  # no temp file left behind


def test_a_warehouse_published_by_an_older_version_is_read_with_this_versions_macros(tmp_path):
    """A published file lacking a macro added since it was built (entry_state, here), or holding an older
    definition of one, is read with the current definitions: verify and the Dagster readers run this
    version's SQL on whatever file the last run published."""
    import duckdb

    old = tmp_path / "published.duckdb"
    with duckdb.connect(str(old)) as conn:
        conn.execute("CREATE MACRO signed_posted(normal, pd, pc, qd, qc) AS 0")  # an outdated stored definition
    reader = open_published(old)
    try:
        states = reader.execute(
            "SELECT entry_state('posted', TIMESTAMPTZ '2024-01-02 00:00:00+00', NULL, TIMESTAMPTZ '2024-01-01 00:00:00+00'), "
            "entry_state('posted', TIMESTAMPTZ '2024-01-02 00:00:00+00', NULL, TIMESTAMPTZ '2024-01-02 00:00:00+00'), "
            "signed_posted('credit', 10, 25, 0, 0)").fetchone()
    finally:
        reader.close()
    assert states == ("pending", "posted", 15)
    with duckdb.connect(str(old), read_only=True) as conn:  # the file itself is untouched
        assert conn.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'entry_state'").fetchone() == (0,)
