"""Restatements: a backdated batch restates exactly the affected days, recorded with old and new
balances and the batch that caused them."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import psycopg

from ledger_pipelines.warehouse import restatements, snapshots
from ledger_pipelines.warehouse.mirror import mirror
from ledger_pipelines.warehouse.store import open_work
from tests.warehouse import reference as ref
from tests.warehouse.conftest import build
from tests.warehouse.ledgen import RandomLedger
from tests.warehouse.test_snapshots import expected_categories

TZ = "America/New_York"
START = date(2024, 3, 3)
LAST = date(2024, 3, 20)


def in_force(rows: dict, key, currency, day):
    """The contract's reading: the latest row on or before ``day`` (zeros before the first)."""
    best = None
    for (k, c, d), value in rows.items():
        if k == key and c == currency and d <= day and (best is None or d > best[0]):
            best = (d, value)
    return best[1][:3] if best else (0, 0, 0)


def expected_restatements(old: dict, new: dict, first: date) -> dict:
    points = {(k, c, d) for (k, c, d) in list(old) + list(new) if d >= first}
    out = {}
    for key, currency, day in points:
        before, after = in_force(old, key, currency, day), in_force(new, key, currency, day)
        if before != after:
            out[(key, currency, day)] = (before, after)
    return out


def reference_rows(db):
    rows = ref.load(db.reader_dsn)
    zone = ZoneInfo(TZ)
    members, normals = expected_categories(rows, with_groups=False)
    return ref.daily_account_rows(rows, zone, START, LAST), ref.daily_category_rows(rows, zone, START, LAST, members, normals)


def recorded(conn, scope, batch_id):
    found = conn.execute(
        "SELECT key, currency, as_of_date, old_posted, old_pending, old_available, new_posted, new_pending, new_available "
        "FROM analytics.restatements WHERE scope = ? AND batch_id = ?", [scope, batch_id],
    ).fetchall()
    return {(r[0], r[1], r[2]): (tuple(r[3:6]), tuple(r[6:9])) for r in found}


def test_a_backdated_batch_restates_exactly_the_affected_days(ledger_db, files):
    gen = RandomLedger(ledger_db.writer_dsn, seed=21, days=20)
    gen.batch(80, moves=10)
    build(ledger_db, files.work, tz=TZ, start=START, last=LAST)
    old_accounts, old_categories = reference_rows(ledger_db)

    batch = gen.batch(6, moves=8, lo_day=8, hi_day=10)  # postings on 8-10 March and late moves of older ones
    with psycopg.connect(ledger_db.reader_dsn) as conn:
        touched = sorted({
            r[0] for r in conn.execute(
                "SELECT DISTINCT (CASE WHEN a.batch_id IS NOT NULL THEN coalesce(t.posted_at, t.archived_at) ELSE t.effective_at END "
                "        AT TIME ZONE %s)::date FROM ledger.transactions t "
                "LEFT JOIN ledger.audit_log a ON a.target_id = t.transaction_id::text AND a.batch_id = %s::uuid "
                "  AND a.action IN ('transaction.posted', 'transaction.archived') "
                "WHERE t.batch_id = %s::uuid OR a.batch_id IS NOT NULL", [TZ, batch, batch],
            )
        })
    new_accounts, new_categories = reference_rows(ledger_db)
    first_changed = min(d for (_, _, d) in set(new_accounts) ^ set(old_accounts) | {
        k for k in new_accounts if new_accounts.get(k) != old_accounts.get(k)})

    with open_work(files.work) as conn:
        mirror(conn, ledger_db.reader_dsn, TZ)
        stale = restatements.days_to_build(conn, START, LAST + timedelta(days=2), start=START, tz=TZ)
        assert stale == [d for d in (START + timedelta(days=n) for n in range((LAST - START).days + 3)) if d >= first_changed]
        days = restatements.affected_days(conn, touched)  # what ingestion reports for the batch
        assert days[0] == max(START, min(touched)) <= first_changed and days[-1] == LAST
        accounts = snapshots.compute_accounts(conn, days[0], days[-1], tz=TZ, start=START, writer_dsn=ledger_db.writer_dsn)
        categories = snapshots.compute_categories(conn, days[0], days[-1], tz=TZ, start=START)
        assert accounts.restated > 0 and categories.restated > 0
        assert recorded(conn, "account", batch) == expected_restatements(old_accounts, new_accounts, days[0])
        assert recorded(conn, "category", batch) == expected_restatements(old_categories, new_categories, days[0])
        # every restatement row names the batch; nothing else is attributed
        assert conn.execute("SELECT count(*) FROM analytics.restatements WHERE batch_id IS DISTINCT FROM ?", [batch]).fetchone()[0] == 0
        assert restatements.days_to_build(conn, START, LAST, start=START, tz=TZ) == []


def test_recomputing_unchanged_days_records_nothing(ledger_db, files):
    gen = RandomLedger(ledger_db.writer_dsn, seed=22, days=20)
    gen.batch(50, moves=10)
    build(ledger_db, files.work, tz=TZ, start=START, last=LAST)
    _, accounts, categories = build(ledger_db, files.work, tz=TZ, start=START, last=LAST)
    assert accounts.restated == 0 and categories.restated == 0
    with open_work(files.work) as conn:
        assert restatements.affected_days(conn, []) == []
        assert restatements.affected_days(conn, [LAST + timedelta(days=3)]) == []  # nothing computed there yet
