"""Daily account and category snapshots against the independent Python recomputation."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from ledger_pipelines.warehouse import snapshots
from ledger_pipelines.warehouse.mirror import mirror
from ledger_pipelines.warehouse.store import open_work
from tests.warehouse import reference as ref
from tests.warehouse.conftest import build
from tests.warehouse.ledgen import ACCOUNT_TYPES, RandomLedger

START = date(2024, 3, 4)  # entries of 1-3 March fold into the first day
LAST = date(2024, 3, 24)
VALUES = "posted, pending, available, posted_debits, posted_credits, pending_debits, pending_credits, entry_count"

GROUPS = [  # (code, parent, normal balance, members)
    ("plan", None, None, ["assets:receivables:s2"]),
    ("plan:pro", "plan", None, ["assets:receivables:s1", "revenue:subscriptions:pro"]),
    ("region:eu", None, "credit", ["liabilities:customer_credits:s1", "revenue:usage:api"]),
]


def add_groups(db) -> None:
    with psycopg.connect(db.writer_dsn) as conn:
        for code, parent, normal, members in GROUPS:
            conn.execute("INSERT INTO ledger.categories (code, kind, parent_code, normal_balance) VALUES (%s, 'group', %s, %s)",
                         [code, parent, normal])
            for account in members:
                conn.execute("INSERT INTO ledger.category_members (category_code, account_id) "
                             "SELECT %s, account_id FROM ledger.accounts WHERE code = %s", [code, account])


def expected_categories(rows, with_groups: bool):
    accounts = {r.account for r in rows}
    members: dict[str, set[str]] = {}
    normals: dict[str, str] = {}
    for account in accounts:
        parts = account.split(":")
        for n in range(1, len(parts) + 1):
            prefix = ":".join(parts[:n])
            members.setdefault(prefix, set()).add(account)
            normals[prefix] = ACCOUNT_TYPES[parts[0]]
    parents = {code: parent for code, parent, _, _ in GROUPS}
    for code, _, normal, accounts_in in GROUPS if with_groups else []:
        normals[code] = normal or "debit"
        group = code
        while group is not None:  # a member of a group is a member of every group above it
            members.setdefault(group, set()).update(a for a in accounts_in if a in accounts)
            group = parents[group]
    return members, normals


def stored(conn, table, key):
    return {
        (r[0], r[1], r[2]): tuple(r[3:])
        for r in conn.execute(f"SELECT {key}, currency, as_of_date, {VALUES} FROM {table}").fetchall()
    }


def assert_matches_reference(db, work, tz, with_groups: bool = True):
    rows = ref.load(db.reader_dsn)
    zone = ZoneInfo(tz)
    accounts = ref.daily_account_rows(rows, zone, START, LAST)
    members, normals = expected_categories(rows, with_groups)
    categories = ref.daily_category_rows(rows, zone, START, LAST, members, normals)
    with open_work(work) as conn:
        got_accounts = stored(conn, "analytics.account_balance_snapshots", "account")
        got_categories = stored(conn, "analytics.category_balance_snapshots", "category")
    assert got_accounts == accounts
    assert got_categories == categories
    return accounts, categories


@pytest.mark.parametrize("tz,seed", [("America/New_York", 1), ("UTC", 2), ("Asia/Kolkata", 3)])
def test_snapshots_equal_the_python_recomputation(ledger_db, files, tz, seed):
    gen = RandomLedger(ledger_db.writer_dsn, seed=seed, days=24)
    gen.batch(80, moves=10, reversals=2)
    add_groups(ledger_db)
    gen.batch(40, moves=25, reversals=4)
    build(ledger_db, files.work, tz=tz, start=START, last=LAST)
    accounts, categories = assert_matches_reference(ledger_db, files.work, tz)
    assert any(k[2] == START for k in accounts)  # earlier entries landed on the first day
    assert any(k[0] in ("plan", "region:eu") for k in categories)

    # backdated postings and late moves, then the whole range again as one computation
    gen.batch(25, moves=20, reversals=3, lo_day=0, hi_day=12)
    build(ledger_db, files.work, tz=tz, start=START, last=LAST)
    assert_matches_reference(ledger_db, files.work, tz)


def test_refreshing_day_by_day_equals_one_computation(ledger_db, files):
    """The table kept current one day at a time (as the daemon does) equals one computation of the whole range."""
    gen = RandomLedger(ledger_db.writer_dsn, seed=7, days=24)
    gen.batch(60, moves=20, reversals=2)
    build(ledger_db, files.work, tz="Europe/Berlin", start=START, last=LAST, anchors=False)
    with open_work(files.work) as conn:
        one_run = stored(conn, "analytics.account_balance_snapshots", "account")
        categories_one_run = stored(conn, "analytics.category_balance_snapshots", "category")
    day_by_day = files.work.with_name("day_by_day.duckdb")
    written = []
    with open_work(day_by_day) as conn:
        mirror(conn, ledger_db.reader_dsn, "Europe/Berlin")
        day = START
        while day <= LAST:
            result = snapshots.refresh_accounts(conn, tz="Europe/Berlin", start=START, through=day)
            snapshots.refresh_categories(conn, tz="Europe/Berlin", start=START, through=day)
            written.append((result.first_day, result.last_day))
            day += timedelta(days=1)
        again = snapshots.refresh_accounts(conn, tz="Europe/Berlin", start=START, through=LAST)
        assert stored(conn, "analytics.account_balance_snapshots", "account") == one_run
        assert stored(conn, "analytics.category_balance_snapshots", "category") == categories_one_run
        assert conn.execute("SELECT count(*) FROM analytics.restatements").fetchone()[0] == 0
    # each refresh wrote exactly its new day; a refresh with nothing new writes nothing
    assert written == [(START + timedelta(days=n), START + timedelta(days=n)) for n in range((LAST - START).days + 1)]
    assert again.first_day is None and again.rows == 0 and again.reason == "up to date"


def test_a_time_zone_change_rebuilds_every_computed_day(ledger_db, files):
    gen = RandomLedger(ledger_db.writer_dsn, seed=8, days=24)
    gen.batch(60, moves=10)
    build(ledger_db, files.work, tz="UTC", start=START, last=LAST)
    # nothing new in the ledger, but every day is recomputed in the new zone
    result = build(ledger_db, files.work, tz="America/New_York", start=START, last=LAST)[1]
    assert result.full_rebuild and result.first_day == START
    assert_matches_reference(ledger_db, files.work, "America/New_York", with_groups=False)
