"""Every check passes on good data and fails -- naming the offending rows -- on a corrupted copy."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from ledger_pipelines.warehouse import checks, freshness
from ledger_pipelines.warehouse.store import open_work
from tests.warehouse.conftest import build
from tests.warehouse.ledgen import RandomLedger

TZ = "UTC"
START = date(2024, 3, 3)
LAST = date(2024, 3, 20)


@pytest.fixture
def built(ledger_db, files):
    gen = RandomLedger(ledger_db.writer_dsn, seed=31, days=20)
    gen.batch(60, moves=10, reversals=2)
    build(ledger_db, files.work, tz=TZ, start=START, last=LAST)
    with open_work(files.work) as conn:  # what the dbt asset records after a successful build (no dbt here)
        freshness.record_reports_build(conn, run_id="reports-of-this-test")
    return ledger_db, files


def run_all(db, files):
    with open_work(files.work) as conn:
        return {r.name: r for r in checks.run_all(conn, db.reader_dsn, tz=TZ, start=START, today=LAST)}


def failing(results):
    return sorted(name for name, r in results.items() if not r.passed)


def test_every_check_passes_on_good_data(built):
    db, files = built
    results = run_all(db, files)
    assert failing(results) == []
    assert all(r.checked_rows > 0 for r in results.values())
    assert len(results) == 11


def test_cache_drift_names_the_account_and_the_difference(built):
    db, files = built
    with psycopg.connect(db.dsn) as conn:  # the owner may edit the cache directly; the writer may not
        account_id, currency = conn.execute(
            "UPDATE ledger.balances SET posted_credits = posted_credits + 7 "
            "WHERE (account_id, currency) = (SELECT b.account_id, b.currency FROM ledger.balances b "
            "  JOIN ledger.accounts a USING (account_id) WHERE a.code = 'revenue:usage:api' ORDER BY b.currency LIMIT 1) "
            "RETURNING account_id, currency"
        ).fetchone()
    results = run_all(db, files)
    assert failing(results) == ["cache_drift"]
    offending = results["cache_drift"].offending.to_dicts()
    assert [(r["account"], r["currency"], r["diff_posted_credits"]) for r in offending] == [("revenue:usage:api", currency, 7)]


def test_an_altered_snapshot_row_fails_the_snapshot_check(built):
    db, files = built
    with open_work(files.work) as conn:
        altered = conn.execute(
            "UPDATE analytics.account_balance_snapshots SET available = available - 1 WHERE rowid = "
            "(SELECT max(rowid) FROM analytics.account_balance_snapshots WHERE account = 'assets:cash:operating') RETURNING account"
        ).fetchall()
    assert altered == [("assets:cash:operating",)]
    results = run_all(db, files)
    assert "account_snapshots_match" in failing(results)
    bad = results["account_snapshots_match"].offending.to_dicts()
    assert len(bad) == 1 and bad[0]["key"] == "assets:cash:operating" and bad[0]["diff_available"] == -1


def test_an_altered_category_row_fails_the_category_checks(built):
    db, files = built
    with open_work(files.work) as conn:
        conn.execute("UPDATE analytics.category_balance_snapshots SET posted_debits = posted_debits + 3 "
                     "WHERE category = 'assets' AND as_of_date = DATE '2024-03-10' AND currency = 'USD'")
        changed = conn.execute("SELECT count(*) FROM analytics.category_balance_snapshots WHERE category = 'assets' "
                               "AND as_of_date = DATE '2024-03-10' AND currency = 'USD'").fetchone()[0]
    assert changed == 1
    results = run_all(db, files)
    assert failing(results) == ["category_snapshots_match", "category_totals"]
    bad = results["category_totals"].offending.to_dicts()
    assert [(r["category"], str(r["as_of_date"]), r["diff_posted_debits"]) for r in bad] == [("assets", "2024-03-10", 3)]


def test_a_deleted_mirror_row_fails_the_mirror_checks(built):
    db, files = built
    with open_work(files.work) as conn:
        day, currency = conn.execute(
            "DELETE FROM analytics.entries WHERE rowid = (SELECT min(rowid) FROM analytics.entries) RETURNING CAST(effective_at AT TIME ZONE 'UTC' AS DATE), currency"
        ).fetchone()
    results = run_all(db, files)
    assert {"mirror_complete", "mirror_balanced_transactions"} <= set(failing(results))
    bad = results["mirror_complete"].offending.to_dicts()
    assert len(bad) == 1 and bad[0]["effective_day_utc"] == day and bad[0]["currency"] == currency and bad[0]["diff_entries"] == -1
    assert results["mirror_balanced_transactions"].offending.height == 1


def test_an_unbalanced_transaction_in_the_ledger_is_reported(built):
    db, _ = built
    # Only a superuser bypassing every trigger can do this; the check must still see it.
    with psycopg.connect(db.superuser_dsn) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE ledger.entries SET amount = amount + 1 WHERE ctid = (SELECT min(ctid) FROM ledger.entries)")
    result = checks.balanced_transactions_ledger(db.reader_dsn)
    assert not result.passed and result.offending.height == 1 and abs(result.offending["net"][0]) == 1


def test_the_mirror_check_sums_a_day_beyond_64_bits(ledger_db, files):
    """Each amount fits 64 bits and so does each account's sum, but a day's total over accounts may not.

    (The category snapshots still hold 64-bit sums: a category total beyond that range stops
    their computation with an error; docs/warehouse.md, "Limits".)
    """
    from datetime import UTC, datetime

    from ledger_pipelines.warehouse.mirror import mirror
    from tests.ledger.helpers_ledger import open_ledger, transfer

    biggest = 2**63 - 1
    ledger = open_ledger(ledger_db.writer_dsn)
    at = datetime(2024, 3, 5, 12, tzinfo=UTC)
    ledger.post(transfer("huge-1", "assets:vault:one", "equity:one", biggest, at=at))
    ledger.post(transfer("huge-2", "assets:vault:two", "equity:two", biggest, at=at))
    with open_work(files.work) as conn:
        mirror(conn, ledger_db.reader_dsn, TZ)
        complete = checks.mirror_complete(conn, ledger_db.reader_dsn)
        conn.execute("UPDATE analytics.entries SET amount = amount - 1 WHERE transaction_id = "
                     "(SELECT min(transaction_id) FROM analytics.entries) AND direction = 'debit'")
        damaged = checks.mirror_complete(conn, ledger_db.reader_dsn)
    assert complete.passed, complete.offending
    assert complete.offending.height == 0
    assert not damaged.passed and damaged.offending["diff_debits"].to_list() == [-1]


def test_the_mirror_check_does_not_depend_on_the_hosts_zone_rules(ledger_db, files) -> None:
    """Postgres dates instants with the host's zone rules; the warehouse with the pinned tzdata.
    Debian's 2025b and the pinned release put America/Havana's winter of 2026-27 an hour apart, so
    an entry at 04:30 UTC on 2 November 2026 is the 1st for one and the 2nd for the other: the
    check compares what was copied (per UTC day), and passes."""
    from datetime import UTC, datetime

    from ledger_pipelines.warehouse.mirror import mirror
    from tests.ledger.helpers_ledger import open_ledger, transfer

    havana = "America/Havana"
    at = datetime(2026, 11, 2, 4, 30, tzinfo=UTC)
    open_ledger(ledger_db.writer_dsn).post(transfer("havana-1", "assets:cash", "equity:owner", 100, at=at))
    with open_work(files.work) as conn:
        mirror(conn, ledger_db.reader_dsn, havana)
        result = checks.mirror_complete(conn, ledger_db.reader_dsn)
        local_day = conn.execute("SELECT effective_date FROM analytics.entries").fetchall()
    assert result.passed, result.offending
    assert local_day == [(date(2026, 11, 2),), (date(2026, 11, 2),)]  # the pinned rules: UTC-4 that night


def test_a_warehouse_behind_the_ledger_fails_verify_and_says_what_to_do(built):
    """Never a vacuous pass: the mirror behind Postgres, and a run interrupted between the account and the
    category snapshots (issue 14, findings 1-2), each fail naming the stale product."""
    db, files = built
    RandomLedger(db.writer_dsn, seed=32, days=20).batch(5, lo_day=2, hi_day=4)  # backdated, not mirrored yet
    results = run_all(db, files)
    assert failing(results) == ["warehouse_fresh"]
    stale = results["warehouse_fresh"].offending.to_dicts()
    assert [r["product"] for r in stale] == ["mirror"] and "created or moved" in stale[0]["reason"]
    assert "subledger run" in results["warehouse_fresh"].runbook

    # the interrupted run: mirror and account snapshots done, the process dies before the categories
    from ledger_pipelines.warehouse import snapshots
    from ledger_pipelines.warehouse.mirror import mirror

    with open_work(files.work) as conn:
        mirror(conn, db.reader_dsn, TZ)
        snapshots.refresh_accounts(conn, tz=TZ, start=START, through=LAST)
    results = run_all(db, files)
    assert failing(results) == ["category_snapshots_match", "category_totals", "warehouse_fresh"]
    assert [r["product"] for r in results["warehouse_fresh"].offending.to_dicts()] == ["category_snapshots", "reports"]
    assert "watermark" in results["category_snapshots_match"].notes["stale"]
    with open_work(files.work) as conn:  # the next run rebuilds what is stale, whatever interrupted the last one
        snapshots.refresh_categories(conn, tz=TZ, start=START, through=LAST)
    assert failing(run_all(db, files)) == ["warehouse_fresh"]  # only the reports are left behind
    with open_work(files.work) as conn:
        freshness.record_reports_build(conn, run_id="reports-rebuilt")
    assert failing(run_all(db, files)) == []


def test_a_membership_change_makes_the_categories_stale_until_restated(built):
    db, files = built
    with psycopg.connect(db.writer_dsn) as conn:
        conn.execute("INSERT INTO ledger.categories (code, kind) VALUES ('plan:pro', 'group')")
        conn.execute("INSERT INTO ledger.category_members (category_code, account_id) "
                     "SELECT 'plan:pro', account_id FROM ledger.accounts WHERE code LIKE 'assets:receivables:%'")
    results = run_all(db, files)
    assert [r["product"] for r in results["warehouse_fresh"].offending.to_dicts()] == ["mirror"]
    _, _, categories = build(db, files.work, tz=TZ, start=START, last=LAST)
    assert categories.first_day == START and "membership" in categories.reason
    results = run_all(db, files)
    assert failing(results) == ["warehouse_fresh"]
    assert [r["product"] for r in results["warehouse_fresh"].offending.to_dicts()] == ["reports"]
