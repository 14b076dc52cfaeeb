"""Dagster's Postgres storages, holding one connection per process instead of opening one per write.

dagster-postgres opens its run, event-log and schedule storages with SQLAlchemy's ``NullPool``: a
new database connection -- a TCP handshake, a forked server backend and a SCRAM password exchange
-- for every event a run writes. A run of this platform writes ~650 events (the dbt models and
their tests as asset checks); a profile of `subledger run` showed 11 s of its CPU in
``psycopg2.connect`` alone, on a busy 2-core machine. The webserver already avoids this
(``optimize_for_webserver``: a pool of one kept connection); these classes do the same in every
process that opens the instance -- run workers, the daemon, `subledger run` -- so each holds at
most one idle connection (plus short-lived overflow under concurrency).

``dagster.yaml`` names them (``ledger_pipelines/platform/instance.py``); their configuration is
dagster-postgres's own (``postgres_url`` from the environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

# statement_timeout 0: none (a run's own writes are small; the webserver sets its own when it starts);
# connections recycled hourly; up to 8 more than the one kept when threads write at once.
POOLED = {"statement_timeout": 0, "pool_recycle": 3600, "max_overflow": 8}


def _arguments(config_value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "postgres_url": pg_url_from_config(config_value),
        "should_autocreate_tables": config_value.get("should_autocreate_tables", True),
        "token_provider": get_token_provider_from_config(config_value),
    }


class PooledPostgresRunStorage(PostgresRunStorage):
    """dagster-postgres's run storage with one kept connection per process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.optimize_for_webserver(**POOLED)

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]) -> PooledPostgresRunStorage:
        return cls(inst_data=inst_data, **_arguments(config_value))


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """dagster-postgres's event-log storage with one kept connection per process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.optimize_for_webserver(**POOLED)

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]) -> PooledPostgresEventLogStorage:
        return cls(inst_data=inst_data, **_arguments(config_value))


class PooledPostgresScheduleStorage(PostgresScheduleStorage):
    """dagster-postgres's schedule storage (sensor and schedule ticks) with one kept connection per process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.optimize_for_webserver(**POOLED)

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]) -> PooledPostgresScheduleStorage:
        return cls(inst_data=inst_data, **_arguments(config_value))
