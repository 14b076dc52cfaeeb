"""Restatements: a backdated batch restates exactly the affected days, recorded with old and new
balances and the batch that caused them."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

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


def recorded(conn, scope, batch_id=None):
    """Restated rows of ``scope`` (caused by ``batch_id`` among others, or all)."""
    found = conn.execute(
        "SELECT key, currency, as_of_date, old_posted, old_pending, old_available, new_posted, new_pending, new_available "
        "FROM analytics.restatements WHERE scope = ? AND (? IS NULL OR list_contains(batch_ids, ?))",
        [scope, batch_id, batch_id],
    ).fetchall()
    return {(r[0], r[1], r[2]): (tuple(r[3:6]), tuple(r[6:9])) for r in found}


def first_changed(old: dict, new: dict) -> date:
    return min(d for (_, _, d) in set(new) ^ set(old) | {k for k in new if new.get(k) != old.get(k)})


def test_a_backdated_batch_restates_exactly_the_affected_days(ledger_db, files):
    gen = RandomLedger(ledger_db.writer_dsn, seed=21, days=20)
    gen.batch(80, moves=10)
    build(ledger_db, files.work, tz=TZ, start=START, last=LAST)
    old_accounts, old_categories = reference_rows(ledger_db)

    batch = gen.batch(6, moves=8, lo_day=8, hi_day=10)  # postings on 8-10 March and late moves of older ones
    new_accounts, new_categories = reference_rows(ledger_db)
    _, accounts, categories = build(ledger_db, files.work, tz=TZ, start=START, last=LAST)
    # the refresh rewrote exactly from the first day whose balance changed
    assert accounts.first_day == first_changed(old_accounts, new_accounts) and accounts.last_day == LAST
    assert accounts.restated > 0 and categories.restated > 0
    with open_work(files.work) as conn:
        assert recorded(conn, "account", batch) == expected_restatements(old_accounts, new_accounts, accounts.first_day)
        assert recorded(conn, "category", batch) == expected_restatements(old_categories, new_categories, categories.first_day)
        # every restatement row names the batch; nothing else is attributed
        assert conn.execute("SELECT count(*) FROM analytics.restatements WHERE batch_id IS DISTINCT FROM ? "
                            "OR batch_ids <> [?]", [batch, batch]).fetchone()[0] == 0
    _, again, _ = build(ledger_db, files.work, tz=TZ, start=START, last=LAST)
    assert again.first_day is None and again.restated == 0  # nothing new: nothing rewritten


def test_a_row_restated_by_two_batches_is_recorded_once(ledger_db, files):
    """Summing analytics.restatements never counts a restated row twice (one row, every cause in batch_ids)."""
    gen = RandomLedger(ledger_db.writer_dsn, seed=23, days=20)
    gen.batch(80, moves=10)
    build(ledger_db, files.work, tz=TZ, start=START, last=LAST)
    old_accounts, _ = reference_rows(ledger_db)
    first = gen.batch(5, lo_day=4, hi_day=5)
    second = gen.batch(5, lo_day=6, hi_day=7)
    new_accounts, _ = reference_rows(ledger_db)
    build(ledger_db, files.work, tz=TZ, start=START, last=LAST)
    with open_work(files.work) as conn:
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT scope, key, currency, as_of_date FROM analytics.restatements "
            "GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        both = conn.execute("SELECT count(*) FROM analytics.restatements WHERE batch_ids = ?",
                            [sorted([first, second])]).fetchone()[0]
        assert recorded(conn, "account") == expected_restatements(old_accounts, new_accounts, first_changed(old_accounts, new_accounts))
    assert duplicates == 0 and both > 0


def test_recomputing_unchanged_days_records_nothing(ledger_db, files):
    gen = RandomLedger(ledger_db.writer_dsn, seed=22, days=20)
    gen.batch(50, moves=10)
    build(ledger_db, files.work, tz=TZ, start=START, last=LAST)
    _, accounts, categories = build(ledger_db, files.work, tz=TZ, start=START, last=LAST, rebuild_from=START)
    assert accounts.first_day == START and accounts.rows > 0  # every day recomputed on request ...
    assert accounts.restated == 0 and categories.restated == 0  # ... and nothing changed
