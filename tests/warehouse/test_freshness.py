"""The warehouse rebuilds what it cannot trust: a damaged work file is set aside and rebuilt from the
ledger (issue 21, finding 6), and the freshness of each product is judged from what was recorded."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from ledger_pipelines.warehouse import checks, freshness
from ledger_pipelines.warehouse.store import open_work
from tests.warehouse.conftest import build
from tests.warehouse.ledgen import RandomLedger

START, LAST = date(2024, 3, 3), date(2024, 3, 20)


def stored(work):
    with open_work(work) as conn:
        return sorted(conn.execute("SELECT account, currency, as_of_date, posted, pending FROM "
                                   "analytics.account_balance_snapshots").fetchall())


def test_a_damaged_work_file_is_set_aside_and_rebuilt(ledger_db, files):
    RandomLedger(ledger_db.writer_dsn, seed=71, days=20).batch(80, moves=10)
    build(ledger_db, files.work, tz="UTC", start=START, last=LAST)
    good = stored(files.work)
    size = files.work.stat().st_size

    # 1. garbage over the file's blocks: DuckDB refuses it at open -> set aside, rebuilt by the same run
    data = bytearray(files.work.read_bytes())
    data[8192:40000] = b"\xab" * (40000 - 8192)
    files.work.write_bytes(bytes(data))
    mirrored, accounts, _ = build(ledger_db, files.work, tz="UTC", start=START, last=LAST)
    assert mirrored.full and accounts.full_rebuild
    assert stored(files.work) == good
    [aside] = list(files.work.parent.glob("warehouse.work.duckdb.damaged-*"))
    assert aside.stat().st_size == size  # kept for inspection, never deleted

    # 2. a file cut short: it opens, the damage shows when a run reads -> that run fails, the next rebuilds
    files.work.write_bytes(files.work.read_bytes()[: 300_000])
    with pytest.raises(duckdb.Error):
        build(ledger_db, files.work, tz="UTC", start=START, last=LAST)
    build(ledger_db, files.work, tz="UTC", start=START, last=LAST)
    assert stored(files.work) == good
    assert len(list(files.work.parent.glob("warehouse.work.duckdb.damaged-*"))) == 2


def test_the_reports_are_never_built_from_two_generations(ledger_db, files):
    gen = RandomLedger(ledger_db.writer_dsn, seed=72, days=20)
    gen.batch(40, moves=5)
    build(ledger_db, files.work, tz="UTC", start=START, last=LAST)
    with open_work(files.work) as conn:
        assert freshness.report_inputs(conn).last_day == LAST
    gen.batch(5)
    from ledger_pipelines.warehouse.mirror import mirror

    with open_work(files.work) as conn:  # the mirror moved on, the snapshots did not (yet)
        mirror(conn, ledger_db.reader_dsn, "UTC")
        with pytest.raises(freshness.StaleInputs, match="materialise the snapshots first"):
            freshness.record_reports_build(conn, run_id="would-mix-generations")
        statuses = {s.product: s for s in freshness.assess(conn, tz="UTC", start=START, today=LAST)}
        assert not statuses["account_snapshots"].fresh and "watermark" in statuses["account_snapshots"].reason
        assert not checks.snapshots_match(conn, "account", tz="UTC", start=START).passed  # stale is not a pass
