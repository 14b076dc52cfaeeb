"""Ten years of history (issue 13): the warehouse's Dagster bookkeeping follows the data, not the calendar.

A ledger whose entries span 2016-2026 is built by the real Dagster assets and checks (in process,
real Postgres and DuckDB); then an event backdated into 2017 arrives and the next run restates.
The snapshots must equal an independent recomputation from the Postgres entries on the touched
days and today, the restatement log must hold the rows, and the Dagster event log of each run must
hold a number of records that does not depend on how many days the history spans.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from ledger_pipelines.defs.warehouse.assets import ACCOUNT_SNAPSHOTS_KEY, WAREHOUSE_ASSETS
from ledger_pipelines.defs.warehouse.checks import WAREHOUSE_CHECKS
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse, LedgerPostgres
from ledger_pipelines.warehouse.store import open_work
from tests.warehouse import reference as ref
from tests.warehouse.ledgen import RandomLedger

TZ = "Europe/Berlin"
START = date(2016, 1, 1)
BASE = datetime(2016, 1, 1, tzinfo=UTC)
# Records per run whatever the history: per asset and check a handful (planned, started, output,
# materialisation / evaluation, success), plus the run's own. Measured: 57; a per-day design
# writes two records per asset and day (3,900 days here).
MAX_RECORDS_PER_RUN = 80


@pytest.fixture
def resources(ledger_db, files, monkeypatch):
    monkeypatch.setenv("SUBLEDGER_TIMEZONE", TZ)
    monkeypatch.setenv("SUBLEDGER_START_DATE", START.isoformat())
    return {
        "duckdb_warehouse": DuckDBWarehouse(work_path=str(files.work), published_path=str(files.published)),
        "ledger_postgres": LedgerPostgres(dsn=ledger_db.dsn, reader_dsn=ledger_db.reader_dsn, writer_dsn=ledger_db.writer_dsn),
    }


def run_records(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> Counter:
    return Counter(e.dagster_event.event_type_value for e in instance.all_logs(result.run_id) if e.dagster_event)


def in_force(conn, account: str, currency: str, day: date):
    """The stored balance in force at the end of ``day``: the latest row on or before it (the contract's reading)."""
    found = conn.execute(
        "SELECT posted, pending, available FROM analytics.account_balance_snapshots WHERE account = ? AND currency = ? "
        "AND as_of_date <= ? ORDER BY as_of_date DESC LIMIT 1", [account, currency, day]).fetchall()
    return found[0] if found else (0, 0, 0)


def test_ten_years_of_history_build_and_restate_with_bookkeeping_bounded_by_the_data(ledger_db, files, resources):
    today = datetime.now(ZoneInfo(TZ)).date()
    gen = RandomLedger(ledger_db.writer_dsn, seed=61, days=(date(2026, 11, 30) - START).days, base=BASE)
    gen.batch(400, moves=60, reversals=8)
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.materialize([*WAREHOUSE_ASSETS, *WAREHOUSE_CHECKS], resources=resources, instance=instance)
        assert first.success

        backdated_from = (date(2017, 3, 10) - START).days
        batch = gen.batch(4, moves=3, lo_day=backdated_from, hi_day=backdated_from + 2)  # into March 2017
        second = dg.materialize([*WAREHOUSE_ASSETS, *WAREHOUSE_CHECKS], resources=resources, instance=instance)
        assert second.success
        first_records, second_records = run_records(instance, first), run_records(instance, second)
        [written] = [e for e in second.get_asset_materialization_events() if e.asset_key == ACCOUNT_SNAPSHOTS_KEY]
        meta = {k: v.value for k, v in written.materialization.metadata.items()}

    # bookkeeping: a constant number of records per run, one materialisation per asset
    assert sum(second_records.values()) <= MAX_RECORDS_PER_RUN, second_records
    assert second_records == first_records
    assert second_records["ASSET_MATERIALIZATION"] == len(WAREHOUSE_ASSETS)
    assert second_records["ASSET_MATERIALIZATION_PLANNED"] == len(WAREHOUSE_ASSETS)
    # the restatement started at the backdated day (or the day of a late move), not at the start of history
    first_written = date.fromisoformat(meta["first day written"])
    assert date(2017, 3, 1) <= first_written <= date(2017, 3, 13) and meta["restated rows"] > 0

    rows = ref.load(ledger_db.reader_dsn)
    zone = ZoneInfo(TZ)
    touched = {first_written + timedelta(days=n) for n in range(4)} | {date(2019, 6, 30), today}
    with open_work(files.work) as conn:
        for day in sorted(touched):
            expected = ref.sums(rows, ref.end_of_day(day, zone))
            for (account, currency), value in expected.items():
                normal = next(r.normal for r in rows if r.account == account)
                assert in_force(conn, account, currency, day) == ref.signed(normal, value), (account, currency, day)
        recorded = conn.execute("SELECT count(*), min(as_of_date) FROM analytics.restatements "
                                "WHERE list_contains(batch_ids, ?)", [batch]).fetchone()
    assert recorded[0] > 0 and recorded[1] >= first_written
