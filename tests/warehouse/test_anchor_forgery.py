"""The ledger owns its balance anchors (invariant I14): the warehouse proposes them, the ledger checks
them against the entries before it stores them, and `subledger verify` and the Dagster asset check
recompute every stored one.

A forged anchor would move every later `subledger balance --as-of` answer of its account. The
writer role cannot write one (no grant; a forged proposal is refused whole, SQLSTATE LDG10); the
owner, who can bypass the function, is caught by the checks, which name the anchor.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import psycopg
import pytest

from ledger_pipelines.defs.warehouse.assets import ACCOUNT_SNAPSHOTS_KEY, WAREHOUSE_ASSETS
from ledger_pipelines.defs.warehouse.checks import WAREHOUSE_CHECKS
from ledger_pipelines.defs.warehouse.resources import DuckDBWarehouse, LedgerPostgres
from ledger_pipelines.ledger.anchors import ANCHOR_COLUMNS, AnchorRun, AnchorsRefused, replace
from ledger_pipelines.ledger.balances import balances, recomputed_balances
from ledger_pipelines.ledger.ids import account_id
from ledger_pipelines.warehouse.checks import anchors_match
from tests.ledger.helpers_sql import attempt
from tests.warehouse.conftest import build
from tests.warehouse.ledgen import RandomLedger

START, LAST = date(2024, 3, 3), date(2024, 3, 22)
STORED = f"SELECT account_id::text, {', '.join(ANCHOR_COLUMNS[1:])} FROM ledger.balance_anchors ORDER BY account_id, currency, anchor_at"


@pytest.fixture
def anchored(ledger_db, files):
    """A ledger with history, pending transactions and moves, and the anchors a warehouse run proposed."""
    RandomLedger(ledger_db.writer_dsn, seed=61, days=20).batch(80, moves=12)
    _, accounts, _ = build(ledger_db, files.work, tz="UTC", start=START, last=LAST, anchor_every=4)
    assert accounts.anchors > 0
    return ledger_db


def stored(dsn: str) -> pl.DataFrame:
    with psycopg.connect(dsn) as conn:
        return pl.DataFrame(conn.execute(STORED).fetchall(), schema=ANCHOR_COLUMNS, orient="row")


def a_moved_anchor(dsn: str) -> tuple[str, str, datetime]:
    """(account code, currency, instant) of an anchor whose account has an entry before it."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT c.code, a.currency, a.anchor_at FROM ledger.balance_anchors a JOIN ledger.accounts c USING (account_id) "
            "WHERE a.posted_debits > 0 ORDER BY a.anchor_at, c.code LIMIT 1").fetchone()


@pytest.mark.parametrize("statement", [
    "UPDATE ledger.balance_anchors SET posted_debits = posted_debits + 100",
    "DELETE FROM ledger.balance_anchors",
    "DELETE FROM ledger.balance_anchor_runs",
    "INSERT INTO ledger.balance_anchors SELECT account_id, currency, anchor_at + interval '1 second', run_id, "
    "posted_debits + 1, posted_credits, pending_debits, pending_credits, entry_count FROM ledger.balance_anchors",
    "TRUNCATE ledger.balance_anchors",
])
def test_the_writer_cannot_write_anchors_directly(anchored, statement):
    before = stored(anchored.dsn)
    assert attempt(anchored.writer_dsn, statement).sqlstate == "42501"
    assert stored(anchored.dsn).equals(before)


def test_a_forged_proposal_is_refused_whole_and_names_the_anchor(anchored):
    before = stored(anchored.dsn)
    code, currency, at = a_moved_anchor(anchored.dsn)
    forged = before.with_columns(  # one anchor says 1 more posted debit
        pl.when((pl.col("account_id") == str(account_id(code))) & (pl.col("currency") == currency) & (pl.col("anchor_at") == at)).then(pl.col("posted_debits") + 1).otherwise(pl.col("posted_debits")).alias("posted_debits"))
    with psycopg.connect(anchored.writer_dsn) as conn:
        snap = conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
        run = AnchorRun(run_id="00000000-0000-4000-8000-000000000001", snapshot=snap, first_day=START, last_day=LAST,
                        covered_until=datetime(2024, 3, 23, tzinfo=UTC), timezone="UTC",
                        replace_from=datetime(1900, 1, 1, tzinfo=UTC), replace_until=datetime(9000, 1, 1, tzinfo=UTC))
        with pytest.raises(AnchorsRefused, match=code) as refused:
            with conn.transaction():
                replace(conn, run, forged)
        assert "the entries say" in str(refused.value)
        # the same proposal, unforged, is accepted: the check is not what refused it
        with conn.transaction():
            assert replace(conn, run, before) == before.height
    assert stored(anchored.dsn).equals(before)


def test_a_proposal_from_a_snapshot_the_ledger_has_not_reached_is_refused(anchored):
    with psycopg.connect(anchored.writer_dsn) as conn:
        xmax = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()[0]
        run = AnchorRun(run_id="00000000-0000-4000-8000-000000000002", snapshot=f"{xmax + 1000}:{xmax + 1000}:",
                        first_day=START, last_day=LAST, covered_until=datetime(2024, 3, 23, tzinfo=UTC), timezone="UTC",
                        replace_from=datetime(1900, 1, 1, tzinfo=UTC), replace_until=datetime(9000, 1, 1, tzinfo=UTC))
        with pytest.raises(AnchorsRefused, match="not one the ledger has reached"), conn.transaction():
            replace(conn, run, stored(anchored.dsn))


def test_an_anchor_changed_by_the_owner_fails_verify_with_its_name(anchored):
    assert anchors_match(anchored.reader_dsn).passed
    code, currency, at = a_moved_anchor(anchored.dsn)
    with psycopg.connect(anchored.dsn) as conn:  # the owner bypasses ledger.replace_anchors
        conn.execute("UPDATE ledger.balance_anchors a SET posted_debits = posted_debits + 7 FROM ledger.accounts c "
                     "WHERE c.account_id = a.account_id AND c.code = %s AND a.currency = %s AND a.anchor_at = %s",
                     [code, currency, at])
    with psycopg.connect(anchored.reader_dsn) as conn:  # what `balance --as-of` would now answer
        assert balances(conn, [code], currency=currency, as_of=at) != recomputed_balances(conn, [code], currency=currency, as_of=at)
    result = anchors_match(anchored.reader_dsn)
    assert not result.passed and result.offending.height == 1
    row = result.offending.row(0, named=True)
    assert (row["account"], row["currency"], row["anchor_at"], row["diff_posted_debits"]) == (code, currency, at, 7)
    assert "rebuild-from" in result.runbook


def test_a_deleted_end_of_day_anchor_leaves_a_move_uncovered_and_fails_verify(anchored):
    """Stale rather than wrong: the anchor after a lifecycle move is gone, so balance_at would read
    the anchor before the move and miss it. Every remaining anchor is still right."""
    with psycopg.connect(anchored.dsn) as conn:
        gap = conn.execute(
            """
            SELECT a.account_id, a.currency, a.anchor_at
              FROM ledger.transactions t
              JOIN ledger.entries e USING (transaction_id)
              JOIN ledger.balance_anchors a ON a.account_id = e.account_id AND a.currency = e.currency
                   AND a.anchor_at >= t.posted_at AND a.anchor_at::date = t.posted_at::date
             WHERE t.status = 'posted' AND t.posted_at > e.effective_at + interval '1 day'
               AND EXISTS (SELECT 1 FROM ledger.balance_anchors b WHERE b.account_id = a.account_id
                           AND b.currency = a.currency AND b.anchor_at BETWEEN e.effective_at AND t.posted_at)
             ORDER BY a.anchor_at LIMIT 1
            """).fetchone()
        assert gap is not None
        conn.execute("DELETE FROM ledger.balance_anchors WHERE account_id = %s AND currency = %s "
                     "AND anchor_at >= %s AND anchor_at < %s::date + 1", [gap[0], gap[1], gap[2], gap[2]])
    result = anchors_match(anchored.reader_dsn)
    assert not result.passed
    assert result.offending["uncovered_moves"].sum() >= 1
    assert (result.offending["diff_posted_debits"] == 0).all()


def test_the_dagster_asset_check_catches_a_forged_anchor(anchored, files, monkeypatch):
    monkeypatch.setenv("SUBLEDGER_TIMEZONE", "UTC")
    monkeypatch.setenv("SUBLEDGER_START_DATE", START.isoformat())
    resources = {
        "duckdb_warehouse": DuckDBWarehouse(work_path=str(files.work), published_path=str(files.published)),
        "ledger_postgres": LedgerPostgres(dsn=anchored.dsn, reader_dsn=anchored.reader_dsn, writer_dsn=anchored.writer_dsn),
    }
    code, currency, at = a_moved_anchor(anchored.dsn)
    with psycopg.connect(anchored.dsn) as conn:  # the owner forges an anchor the next run does not replace
        conn.execute("UPDATE ledger.balance_anchors a SET entry_count = entry_count + 1 FROM ledger.accounts c "
                     "WHERE c.account_id = a.account_id AND c.code = %s AND a.currency = %s AND a.anchor_at = %s",
                     [code, currency, at])
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([*WAREHOUSE_ASSETS, *WAREHOUSE_CHECKS], resources=resources, instance=instance,
                                selection=[ACCOUNT_SNAPSHOTS_KEY], raise_on_error=False)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "anchors_match_entries"]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert any(code in record.data.values() for record in evaluation.metadata["offending (first rows)"].value.records)
