"""The Dagster layer, materialised in process with real resources: a partition range as one run,
blocking checks, and the restatement sensor end to end."""

from __future__ import annotations

from datetime import date

import dagster as dg
import psycopg
import pytest

from ledger_pipelines.defs.warehouse.assets import ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY, MIRROR_KEY, WAREHOUSE_ASSETS
from ledger_pipelines.defs.warehouse.checks import WAREHOUSE_CHECKS
from ledger_pipelines.defs.warehouse.definitions import defs
from ledger_pipelines.defs.warehouse.partitions import range_tags
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse, LedgerPostgres
from ledger_pipelines.defs.warehouse.sensors import warehouse_restatement_sensor
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


def materialize(instance, resources, tags, selection=None):
    return dg.materialize([*WAREHOUSE_ASSETS, *WAREHOUSE_CHECKS], resources=resources, instance=instance, tags=tags,
                          selection=selection, raise_on_error=False)


def materialized_partitions(result, key):
    return sorted(e.partition for e in result.get_asset_materialization_events() if e.asset_key == key)


def test_definitions_load():
    graph = defs.resolve_asset_graph()
    assert {MIRROR_KEY, ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY} <= set(graph.get_all_asset_keys())
    assert defs.resolve_asset_graph().get(ACCOUNT_SNAPSHOTS_KEY).backfill_policy == dg.BackfillPolicy.single_run()


def test_a_partition_range_is_one_run_with_checks(ledger_db, files, resources):
    RandomLedger(ledger_db.writer_dsn, seed=51, days=20).batch(60, moves=10)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(instance, resources, range_tags(FIRST, LAST))
        assert result.success
        assert len(instance.get_runs()) == 1
        days = [f"2024-03-{d:02d}" for d in range(3, 21)]
        assert materialized_partitions(result, ACCOUNT_SNAPSHOTS_KEY) == days
        assert materialized_partitions(result, CATEGORY_SNAPSHOTS_KEY) == days
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == len(WAREHOUSE_CHECKS) and all(e.passed for e in evaluations)
        mirror_meta = [e for e in result.get_asset_materialization_events() if e.asset_key == MIRROR_KEY][0].materialization.metadata
        assert mirror_meta["entries written"].value > 0 and "lag seconds (age of the mirrored snapshot)" in mirror_meta
    assert files.published.exists()
    with psycopg.connect(ledger_db.reader_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM ledger.balance_anchors").fetchone()[0] > 0


def test_a_failing_blocking_check_stops_everything_downstream(ledger_db, files, resources):
    gen = RandomLedger(ledger_db.writer_dsn, seed=52, days=20)
    gen.batch(40, moves=5)
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize(instance, resources, range_tags(FIRST, LAST)).success
        with open_work(files.work) as conn:  # a mirror row lost: below the watermark, the next run will not restore it
            conn.execute("DELETE FROM analytics.entries WHERE rowid = (SELECT min(rowid) FROM analytics.entries)")
        gen.batch(10)
        result = materialize(instance, resources, range_tags(FIRST, LAST))
        assert not result.success
        failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
        assert "mirror_complete" in failed
        assert failed["mirror_complete"].severity == dg.AssetCheckSeverity.ERROR
        assert "offending (first rows)" in failed["mirror_complete"].metadata
        assert materialized_partitions(result, ACCOUNT_SNAPSHOTS_KEY) == []  # blocked
        assert materialized_partitions(result, CATEGORY_SNAPSHOTS_KEY) == []


def test_the_restatement_sensor_requests_exactly_the_affected_partitions(ledger_db, files, resources):
    gen = RandomLedger(ledger_db.writer_dsn, seed=53, days=20)
    gen.batch(60, moves=10)
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize(instance, resources, range_tags(FIRST, LAST)).success
        context = dg.build_sensor_context(instance=instance, resources=resources)
        first = warehouse_restatement_sensor(context)
        assert not first.run_requests  # no batch yet

        batch = gen.batch(5, lo_day=9, hi_day=9.9)  # backdated onto 10 March
        with psycopg.connect(ledger_db.dsn) as conn:  # what ingestion records for the batch
            conn.execute(
                "INSERT INTO ingest.batches (batch_id, source_kind, source_name, content_hash, effective_dates) "
                "VALUES (%s, 'file', 'late.jsonl', %s, ARRAY[DATE '2024-03-10'])", [batch, batch],
            )
        second = warehouse_restatement_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor))
        [request] = second.run_requests
        assert request.tags["dagster/asset_partition_range_start"] == "2024-03-10"
        assert request.tags["dagster/asset_partition_range_end"] == "2024-03-20"
        assert set(request.asset_selection) == {MIRROR_KEY, ACCOUNT_SNAPSHOTS_KEY, CATEGORY_SNAPSHOTS_KEY}
        third = warehouse_restatement_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=second.cursor))
        assert not third.run_requests  # the batch is not requested twice

        result = materialize(instance, resources, request.tags, selection=request.asset_selection)
        assert result.success
        assert materialized_partitions(result, ACCOUNT_SNAPSHOTS_KEY) == [f"2024-03-{d:02d}" for d in range(10, 21)]
    with open_work(files.work) as conn:
        found = conn.execute("SELECT DISTINCT batch_id, min(as_of_date) FROM analytics.restatements GROUP BY 1").fetchall()
    assert found == [(batch, date(2024, 3, 10))]
