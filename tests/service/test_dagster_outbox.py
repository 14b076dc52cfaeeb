"""The outbox in Dagster with the workers: the sensor drains only when no worker is connected, and
the lag check warns past SUBLEDGER_QUEUE_LAG_WARN_SECONDS (real Postgres, real Dagster evaluation)."""

from __future__ import annotations

import time

import dagster as dg
import psycopg

from ledger_pipelines.defs.ingestion.definitions import defs as ingestion_defs
from ledger_pipelines.defs.ingestion.outbox import outbox_lag, outbox_sensor
from ledger_pipelines.service.workers import APPLICATION_NAME
from tests.service.conftest import credit_events, insert_envelopes


def tick() -> dg.SensorResult | dg.SkipReason:
    with dg.instance_for_test() as instance:
        return outbox_sensor(dg.build_sensor_context(instance=instance, resources=ingestion_defs.resources))


def lag_check() -> dg.AssetCheckResult:
    return outbox_lag(dg.build_asset_check_context(resources=ingestion_defs.resources))


def test_the_sensor_requests_a_drain_only_without_workers_and_the_lag_check_warns(service_env, ledger_db, monkeypatch):
    assert isinstance(tick(), dg.SkipReason)  # nothing waits: no run
    insert_envelopes(ledger_db.writer_dsn, credit_events("s1", 10, 5))
    result = tick()
    assert [r.run_key for r in result.run_requests] == ["outbox-from-1"]
    with psycopg.connect(ledger_db.writer_dsn, application_name=APPLICATION_NAME.format(number=1)):
        skipped = tick()  # a worker is connected: it posts them, the sensor only watches
        assert isinstance(skipped, dg.SkipReason) and "1 worker(s)" in skipped.skip_message
    assert lag_check().passed
    monkeypatch.setenv("SUBLEDGER_QUEUE_LAG_WARN_SECONDS", "1")
    time.sleep(1.2)
    late = lag_check()
    assert not late.passed and late.severity == dg.AssetCheckSeverity.WARN
    assert late.metadata["waiting"].value == 2
