"""The Dagster layer, materialised in process with real resources: unpartitioned incremental snapshot
assets, blocking checks, and the freshness sensor end to end."""

from __future__ import annotations

from datetime import date

import dagster as dg
import psycopg
import pytest

from ledger_pipelines.defs.warehouse.assets import ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY, MIRROR_KEY, WAREHOUSE_ASSETS
from ledger_pipelines.defs.warehouse.checks import WAREHOUSE_CHECKS
from ledger_pipelines.defs.warehouse.definitions import defs
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse, LedgerPostgres
from ledger_pipelines.defs.warehouse.sensors import warehouse_freshness_sensor
from ledger_pipelines.warehouse import freshness
from ledger_pipelines.warehouse.store import open_work
from tests.warehouse.ledgen import RandomLedger

FIRST, LAST = date(2024, 3, 3), date(2024, 3, 20)


@pytest.fixture
def resources(ledger_db, files, monkeypatch):
    monkeypatch.setenv("SUBLEDGER_TIMEZONE", "UTC")
    monkeypatch.setenv("SUBLEDGER_START_DATE", FIRST.isoformat())  # history complete from the first partition built
    return {
        "duckdb_warehouse": DuckDBWarehouse(work_path=str(files.work), published_path=str(files.published)),
        "ledger_postgres": LedgerPostgres(dsn=ledger_db.dsn, reader_dsn=ledger_db.reader_dsn, writer_dsn=ledger_db.writer_dsn),
    }


def materialize(instance, resources, selection=None):
    return dg.materialize([*WAREHOUSE_ASSETS, *WAREHOUSE_CHECKS], resources=resources, instance=instance,
                          selection=selection, raise_on_error=False)


def metadata(result, key):
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_definitions_load():
    graph = defs.resolve_asset_graph()
    assert {MIRROR_KEY, ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY} <= set(graph.get_all_asset_keys())
    assert graph.get(ACCOUNT_SNAPSHOTS_KEY).partitions_def is None  # cost follows the data, not the calendar
    assert defs.resolve_job_def("refresh_warehouse") is not None


def test_one_run_builds_every_day_with_checks_and_says_what_it_wrote(ledger_db, files, resources, monkeypatch):
    monkeypatch.setenv("SUBLEDGER_TIMEZONE", "UTC")
    RandomLedger(ledger_db.writer_dsn, seed=51, days=20).batch(60, moves=10)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(instance, resources)
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == len(WAREHOUSE_CHECKS) and all(e.passed for e in evaluations)
        mirror_meta = metadata(result, MIRROR_KEY)
        assert mirror_meta["entries written"] > 0 and "lag seconds (age of the mirrored snapshot)" in mirror_meta
        accounts = metadata(result, ACCOUNT_SNAPSHOTS_KEY)
        assert accounts["first day written"] == FIRST.isoformat() and accounts["why"] == "first build"
        assert accounts["covers through"] == date.today().isoformat() and accounts["dagster/row_count"] > 0
        # the event log holds one record per asset, not one per day
        assert len(result.get_asset_materialization_events()) == 3
    assert not files.published.exists()  # only the reports publish: no generation without its reports
    with psycopg.connect(ledger_db.reader_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM ledger.balance_anchors").fetchone()[0] > 0


def test_a_failing_blocking_check_stops_everything_downstream(ledger_db, files, resources):
    gen = RandomLedger(ledger_db.writer_dsn, seed=52, days=20)
    gen.batch(40, moves=5)
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize(instance, resources).success
        with open_work(files.work) as conn:  # a mirror row lost: below the watermark, the next run will not restore it
            conn.execute("DELETE FROM analytics.entries WHERE rowid = (SELECT min(rowid) FROM analytics.entries)")
        gen.batch(10)
        result = materialize(instance, resources)
        assert not result.success
        failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
        assert "mirror_complete" in failed
        assert failed["mirror_complete"].severity == dg.AssetCheckSeverity.ERROR
        assert "offending (first rows)" in failed["mirror_complete"].metadata
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert materialized == {MIRROR_KEY}  # the snapshots were blocked


def test_the_freshness_sensor_requests_one_refresh_when_the_published_warehouse_is_behind(ledger_db, files, resources):
    gen = RandomLedger(ledger_db.writer_dsn, seed=53, days=20)
    gen.batch(60, moves=10)
    with dg.DagsterInstance.ephemeral() as instance:
        first = warehouse_freshness_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        [request] = first.run_requests  # no warehouse yet, the ledger has transactions
        assert "not built yet" in request.tags["subledger/stale"]

        assert materialize(instance, resources).success
        with open_work(files.work) as conn:  # what the reports asset does after a successful dbt build
            freshness.record_reports_build(conn, run_id="reports")
        DuckDBWarehouse(work_path=str(files.work), published_path=str(files.published)).publish()
        current = warehouse_freshness_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(current, dg.SkipReason) and "current" in current.skip_message

        gen.batch(5, lo_day=9, hi_day=9.9)  # backdated onto 10 March
        behind = warehouse_freshness_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        [request] = behind.run_requests
        assert "mirror" in request.tags["subledger/stale"] and "created or moved" in request.tags["subledger/stale"]
        again = warehouse_freshness_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert again.run_requests[0].run_key == request.run_key  # same ledger state: the same run, never a second one

        result = materialize(instance, resources)
        accounts = metadata(result, ACCOUNT_SNAPSHOTS_KEY)
        assert accounts["first day written"] == "2024-03-10" and accounts["restated rows"] > 0
    with open_work(files.work) as conn:
        found = conn.execute("SELECT DISTINCT batch_id, min(as_of_date) FROM analytics.restatements GROUP BY 1").fetchall()
    assert len(found) == 1 and found[0][1] == date(2024, 3, 10)
