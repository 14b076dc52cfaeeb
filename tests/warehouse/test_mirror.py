"""The mirror: incremental, watermarked, idempotent, restartable after a crash, exact under late commits."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from ledger_pipelines.ledger.bulk import apply_plan
from ledger_pipelines.ledger.model import Leg, NewTransaction
from ledger_pipelines.ledger.posting import Ledger
from ledger_pipelines.warehouse import checks
from ledger_pipelines.warehouse.mirror import mirror, read_state
from ledger_pipelines.warehouse.store import open_work
from tests.ledger.plans import PlanBuilder
from tests.warehouse.ledgen import ACCOUNT_TYPES, RandomLedger

REPO = Path(__file__).resolve().parents[2]


def postgres_state(dsn):
    with psycopg.connect(dsn) as conn:
        transactions = {
            (str(r[0]), r[1], r[2], r[3], r[4], r[5])
            for r in conn.execute("SELECT transaction_id, status, effective_at, posted_at, archived_at, batch_id::text FROM ledger.transactions")
        }
        entries = {
            (str(r[0]), r[1], r[2], r[3], r[4], r[5], r[6])
            for r in conn.execute(
                "SELECT e.transaction_id, e.entry_no, a.code, e.direction, e.amount, e.currency, e.effective_at "
                "FROM ledger.entries e JOIN ledger.accounts a USING (account_id)"
            )
        }
    return transactions, entries


def mirror_state(conn):
    transactions = conn.execute(
        "SELECT transaction_id, status, effective_at, posted_at, archived_at, batch_id FROM analytics.transactions"
    ).fetchall()
    entries = conn.execute(
        "SELECT transaction_id, entry_no, account, direction, amount, currency, effective_at FROM analytics.entries"
    ).fetchall()
    return transactions, entries


def assert_mirrors(db, conn):
    pg_tx, pg_entries = postgres_state(db.reader_dsn)
    wh_tx, wh_entries = mirror_state(conn)
    assert len(wh_tx) == len(set(wh_tx)) and len(wh_entries) == len(set(wh_entries)), "duplicates in the mirror"
    assert set(wh_tx) == pg_tx
    assert set(wh_entries) == pg_entries


def test_incremental_idempotent_and_lifecycle_changes(ledger_db, files):
    gen = RandomLedger(ledger_db.writer_dsn, seed=11, days=10)
    gen.batch(40, moves=0)
    with open_work(files.work) as conn:
        first = mirror(conn, ledger_db.reader_dsn, "UTC")
        assert first.full and first.transactions == first.total_transactions > 0
        assert_mirrors(ledger_db, conn)

        again = mirror(conn, ledger_db.reader_dsn, "UTC")
        assert (again.transactions, again.entries, again.full) == (0, 0, False)
        assert again.total_entries == first.total_entries

        gen.batch(10, moves=15, reversals=3)  # new transactions and lifecycle moves of old ones
        third = mirror(conn, ledger_db.reader_dsn, "UTC")
        assert not third.full
        with psycopg.connect(ledger_db.reader_dsn) as pg:
            changed = pg.execute(
                "SELECT count(*) FROM ledger.transactions WHERE NOT pg_visible_in_snapshot(changed_xid, %s::pg_snapshot)",
                [first.watermark.text],
            ).fetchone()[0]
            new_entries = pg.execute(
                "SELECT count(*) FROM ledger.entries e JOIN ledger.transactions t USING (transaction_id) "
                "WHERE NOT pg_visible_in_snapshot(t.created_xid, %s::pg_snapshot)", [first.watermark.text],
            ).fetchone()[0]
        assert third.transactions == changed  # only what changed since the watermark was read
        assert third.entries == new_entries
        moved = conn.execute(
            "SELECT count(*) FROM analytics.transactions WHERE status_changed_at IS NOT NULL AND changed_batch_id IS NOT NULL"
        ).fetchone()[0]
        assert moved > 0  # the move is mirrored with the batch that made it
        assert_mirrors(ledger_db, conn)
        assert checks.mirror_complete(conn, ledger_db.reader_dsn).passed


def _post(conn, key, legs, at):
    return Ledger(conn).post(NewTransaction(key, tuple(Leg(*leg) for leg in legs), at))


def test_a_transaction_committing_late_is_not_skipped(ledger_db, files):
    at = datetime(2024, 3, 5, 12, tzinfo=UTC)
    with psycopg.connect(ledger_db.writer_dsn, autocommit=True) as setup:  # accounts (and their categories) first,
        _post(setup, "setup", [("assets:cash:a", "debit", 1, "USD"), ("revenue:x:a", "credit", 1, "USD"),  # so the two
                               ("assets:cash:b", "debit", 1, "USD"), ("revenue:x:b", "credit", 1, "USD")], at)  # writers share no row
    late = psycopg.connect(ledger_db.writer_dsn)  # its database transaction stays open across the first mirror run
    plan = PlanBuilder()
    plan.post("late", [("assets:cash:a", "debit", 5, "USD"), ("revenue:x:a", "credit", 5, "USD")], at=at)
    apply_plan(late, plan.build(), batch_id=str(uuid.uuid4()), account_types=ACCOUNT_TYPES)  # not committed yet
    late_xid = int(late.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
    with psycopg.connect(ledger_db.writer_dsn, autocommit=True) as other:
        _post(other, "early", [("assets:cash:b", "debit", 7, "USD"), ("revenue:x:b", "credit", 7, "USD")], at)
        other_xid = int(other.execute(
            "SELECT created_xid::text FROM ledger.transactions WHERE idempotency_key = 'early'").fetchone()[0])
    assert late_xid < other_xid  # a "highest xid seen" watermark would jump past the late one

    with open_work(files.work) as conn:
        run = mirror(conn, ledger_db.reader_dsn, "UTC")
        keys = {r[0] for r in conn.execute("SELECT idempotency_key FROM analytics.transactions").fetchall()}
        assert keys == {"setup", "early"}
        assert late_xid in run.watermark.xip and run.behind_transactions == 0
        late.commit()
        late.close()
        run = mirror(conn, ledger_db.reader_dsn, "UTC")
        keys = {r[0] for r in conn.execute("SELECT idempotency_key FROM analytics.transactions").fetchall()}
        assert keys == {"setup", "early", "late"} and run.transactions == 1 and run.entries == 2
        assert_mirrors(ledger_db, conn)


CRASHER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from ledger_pipelines.warehouse.mirror import mirror
    from ledger_pipelines.warehouse.store import open_work

    def stage(name):
        if name == sys.argv[3]:
            os.kill(os.getpid(), signal.SIGKILL)  # a real crash: no cleanup, no rollback call

    with open_work(Path(sys.argv[1])) as conn:
        mirror(conn, sys.argv[2], "UTC", on_stage=stage)
""")


def _crash(files, dsn, stage):
    done = subprocess.run([sys.executable, "-c", CRASHER, str(files.work), dsn, stage], cwd=REPO, capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()[-2000:]


def test_restart_after_a_crash_mid_run(ledger_db, files):
    gen = RandomLedger(ledger_db.writer_dsn, seed=12, days=10)
    gen.batch(30, moves=0)
    _crash(files, ledger_db.reader_dsn, "entries")  # killed after writing entries, before the commit
    with open_work(files.work) as conn:
        assert read_state(conn) is None
        assert conn.execute("SELECT count(*) FROM analytics.entries").fetchone()[0] == 0
    gen.batch(10, moves=10)
    with open_work(files.work) as conn:
        mirror(conn, ledger_db.reader_dsn, "UTC")
    gen.batch(10, moves=10, reversals=2)
    _crash(files, ledger_db.reader_dsn, "state_saved")  # incremental run killed just before its commit
    with open_work(files.work) as conn:
        run = mirror(conn, ledger_db.reader_dsn, "UTC")
        assert run.transactions > 0 and not run.full
        assert_mirrors(ledger_db, conn)
        assert checks.mirror_complete(conn, ledger_db.reader_dsn).passed


def test_effective_dates_follow_the_reporting_time_zone(ledger_db, files):
    with psycopg.connect(ledger_db.writer_dsn, autocommit=True) as conn:
        # 03:30 UTC on 10 March is still 9 March in New York
        _post(conn, "k", [("assets:cash:a", "debit", 5, "USD"), ("revenue:x", "credit", 5, "USD")],
              datetime(2024, 3, 10, 3, 30, tzinfo=UTC))
    with open_work(files.work) as conn:
        mirror(conn, ledger_db.reader_dsn, "America/New_York")
        assert {r[0].isoformat() for r in conn.execute("SELECT DISTINCT effective_date FROM analytics.entries").fetchall()} == {"2024-03-09"}
        mirror(conn, ledger_db.reader_dsn, "UTC")  # the zone changed: entries are re-dated
        assert {r[0].isoformat() for r in conn.execute("SELECT DISTINCT effective_date FROM analytics.entries").fetchall()} == {"2024-03-10"}
        assert read_state(conn).timezone == "UTC"
