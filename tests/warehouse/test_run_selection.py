"""What `subledger run` and the sensors decide to run, from what is stale (issue 14, findings 1 and 6)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import psycopg
import pytest

from ledger_pipelines.config import load_settings
from ledger_pipelines.defs.definitions import defs
from ledger_pipelines.defs.ingestion.outbox import outbox_sensor
from ledger_pipelines.defs.runner import REPORTS_PREFIX, plan_stages, resolve_selection, stale_roots, stale_selection
from ledger_pipelines.defs.warehouse.assets import ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY, MIRROR_KEY
from ledger_pipelines.defs.warehouse.resources import LedgerPostgres
from ledger_pipelines.warehouse import freshness, snapshots
from ledger_pipelines.warehouse.mirror import mirror
from ledger_pipelines.warehouse.store import open_work
from tests.warehouse.conftest import build
from tests.warehouse.ledgen import RandomLedger

START = date(2024, 3, 3)


@pytest.fixture
def settings(ledger_db, files, monkeypatch):
    monkeypatch.setenv("SUBLEDGER_DUCKDB_PATH", str(files.published))
    monkeypatch.setenv("SUBLEDGER_TIMEZONE", "UTC")
    monkeypatch.setenv("SUBLEDGER_START_DATE", START.isoformat())
    return load_settings()


def unpartitioned_stage():
    [_, stage] = plan_stages(defs, resolve_selection(defs, None))
    assert stage.partitions_def is None
    return stage


def test_a_run_interrupted_between_the_snapshots_is_finished_by_the_next_run(ledger_db, settings):
    gen = RandomLedger(ledger_db.writer_dsn, seed=81, days=20)
    gen.batch(40, moves=5)
    today = settings.today()
    build(ledger_db, settings.warehouse_work_path, tz="UTC", start=START, last=today)
    with open_work(settings.warehouse_work_path) as conn:
        freshness.record_reports_build(conn, run_id="reports")
    assert stale_roots(settings, ledger_db.reader_dsn) == {}

    gen.batch(5, lo_day=3, hi_day=4)  # backdated; then a run dies after the account snapshots
    with open_work(settings.warehouse_work_path) as conn:
        mirror(conn, ledger_db.reader_dsn, "UTC")
        snapshots.refresh_accounts(conn, tz="UTC", start=START, through=today)
    roots = stale_roots(settings, ledger_db.reader_dsn)
    assert set(roots) == {CATEGORY_SNAPSHOTS_KEY, REPORTS_PREFIX}
    chosen = set(stale_selection(defs, unpartitioned_stage(), roots))
    assert CATEGORY_SNAPSHOTS_KEY in chosen and MIRROR_KEY not in chosen and ACCOUNT_SNAPSHOTS_KEY not in chosen
    assert dg.AssetKey(["reports", "trial_balance"]) in chosen and dg.AssetKey(["reports", "exports", "trial_balance_files"]) in chosen

    with psycopg.connect(ledger_db.writer_dsn) as conn:  # a membership change: the mirror is behind again
        conn.execute("INSERT INTO ledger.categories (code, kind) VALUES ('region:eu', 'group')")
    roots = stale_roots(settings, ledger_db.reader_dsn)
    assert MIRROR_KEY in roots and "categories" in roots[MIRROR_KEY]
    assert MIRROR_KEY in set(stale_selection(defs, unpartitioned_stage(), roots))


def test_the_outbox_sensor_runs_only_when_the_outbox_holds_rows(ledger_db):
    resources = {"ledger_postgres": LedgerPostgres(dsn=ledger_db.dsn, reader_dsn=ledger_db.reader_dsn,
                                                   writer_dsn=ledger_db.writer_dsn)}
    with dg.DagsterInstance.ephemeral() as instance:
        empty = outbox_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(empty, dg.SkipReason)
        with psycopg.connect(ledger_db.writer_dsn) as conn:
            conn.execute("INSERT INTO ingest.outbox (event_id, event_type, effective_at, payload) "
                         "VALUES ('o-1', 'journal.posted', '2024-03-05', '{}')")
        [request] = outbox_sensor(dg.build_sensor_context(instance=instance, resources=resources)).run_requests
        again = outbox_sensor(dg.build_sensor_context(instance=instance, resources=resources)).run_requests
        assert again[0].run_key == request.run_key  # the same window is requested once


def test_every_sensor_is_on_by_default_and_no_schedule_runs_on_a_clock_without_work():
    assert {s.name: s.default_status for s in defs.sensors} == {
        "landing_folder_sensor": dg.DefaultSensorStatus.RUNNING, "outbox_sensor": dg.DefaultSensorStatus.RUNNING,
        "warehouse_freshness_sensor": dg.DefaultSensorStatus.RUNNING}
    assert [s.name for s in defs.schedules] == ["monthly_close_pack"]
