"""The Dagster instance configuration: Postgres storage from the environment, no secret on disk,
telemetry off, run retries, the DuckDB pool pinned to one slot — checked by Dagster itself and on
a real Postgres-backed instance."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from ledger_pipelines.config import load_settings
from ledger_pipelines.platform.instance import (
    DAGSTER_DATABASE_URL_ENV,
    DUCKDB_POOL,
    POOL_LIMITS,
    dagster_environment,
    instance_for,
    prepare_dagster_home,
    sqlalchemy_postgres_url,
)


@pytest.fixture
def settings(subledger_home: Path):
    return load_settings({"SUBLEDGER_HOME": str(subledger_home)})


def test_dagster_yaml_names_the_variable_and_holds_no_secret(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    monkeypatch.setenv(DAGSTER_DATABASE_URL_ENV, "postgresql+psycopg2://u:not-on-disk-pw@127.0.0.1:5/x")
    home = prepare_dagster_home(settings)
    assert home == settings.dagster_home
    text = (home / "dagster.yaml").read_text()
    assert "not-on-disk-pw" not in text and "postgresql://" not in text
    document = yaml.safe_load(text)
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        assert document[storage]["module"] == "ledger_pipelines.platform.storage"
        assert document[storage]["config"] == {"postgres_url": {"env": DAGSTER_DATABASE_URL_ENV}}
    assert document["telemetry"] == {"enabled": False}
    assert document["run_retries"]["enabled"] is True and document["run_retries"]["max_retries"] >= 1
    assert document["concurrency"]["pools"] == {"granularity": "op", "default_limit": 1}
    # Dagster 1.13's own instance schema accepts it (raises DagsterInvalidConfigError otherwise).
    config, custom_class = dagster_instance_config(str(home))
    assert custom_class is None and config["concurrency"]["pools"]["default_limit"] == 1


def test_prepare_is_idempotent(settings) -> None:
    path = prepare_dagster_home(settings) / "dagster.yaml"
    before = path.stat().st_mtime_ns
    prepare_dagster_home(settings)
    assert path.stat().st_mtime_ns == before


def test_environment_prefers_an_explicit_url_and_names_the_psycopg2_driver(settings, monkeypatch) -> None:
    monkeypatch.setenv(DAGSTER_DATABASE_URL_ENV, "postgresql://u:pw@db.example:5432/dagster")
    env = dagster_environment(settings)  # no cluster is started: the variable is set
    assert env[DAGSTER_DATABASE_URL_ENV] == "postgresql+psycopg2://u:pw@db.example:5432/dagster"
    assert env["DAGSTER_HOME"] == str(settings.dagster_home)
    assert all(Path(env[k]).is_absolute() for k in ("SUBLEDGER_HOME", "SUBLEDGER_DUCKDB_PATH", "SUBLEDGER_LANDING_DIR"))
    assert sqlalchemy_postgres_url("postgres://a@b/c") == "postgresql+psycopg2://a@b/c"
    assert sqlalchemy_postgres_url("postgresql+psycopg2://a@b/c") == "postgresql+psycopg2://a@b/c"
    assert sqlalchemy_postgres_url("mysql://a@b/c") == "mysql://a@b/c"


def test_real_instance_on_postgres(pg_cluster, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Open the instance on the embedded Postgres like `subledger dev` does and read its settings back."""
    from dagster._core.instance.config import PoolGranularity
    from dagster._core.storage.runs import SqlRunStorage

    dsns = pg_cluster.dsns()
    monkeypatch.delenv(DAGSTER_DATABASE_URL_ENV, raising=False)
    for name, value in dagster_environment(settings, dsns).items():
        monkeypatch.setenv(name, value)  # restored after the test
    instance = instance_for(settings, dsns)
    try:
        from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
        from sqlalchemy.pool import QueuePool

        assert isinstance(instance.run_storage, PostgresRunStorage) and isinstance(instance.run_storage, SqlRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        # one kept connection per process, not a new connection per event written
        for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
            assert isinstance(storage._engine.pool, QueuePool), type(storage)
        connections = lambda: instance.event_log_storage._engine.pool.checkedin()  # noqa: E731
        for _ in range(20):
            instance.event_log_storage.get_concurrency_info(DUCKDB_POOL)
        assert connections() == 1
        assert instance.telemetry_enabled is False
        # Every run's log records also reach the structured handler (ledger_pipelines/logging.py).
        assert "DagsterRunLogHandler" in [type(h).__name__ for h in instance.get_handlers()]
        assert instance.run_retries_enabled and instance.run_retries_max_retries >= 1
        pools = instance.get_concurrency_config().pool_config
        assert pools.pool_granularity == PoolGranularity.OP and pools.default_pool_limit == 1
        info = instance.event_log_storage.get_concurrency_info(DUCKDB_POOL)
        assert info.slot_count == POOL_LIMITS[DUCKDB_POOL] == 1
        # An operator raising the limit by hand is undone at the next start.
        instance.event_log_storage.set_concurrency_slots(DUCKDB_POOL, 3)
    finally:
        instance.dispose()
    again = instance_for(settings, dsns)
    try:
        assert again.event_log_storage.get_concurrency_info(DUCKDB_POOL).slot_count == 1
    finally:
        again.dispose()
    assert os.environ["DAGSTER_HOME"] == str(settings.dagster_home)
