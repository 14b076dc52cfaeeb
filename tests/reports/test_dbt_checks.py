"""The dbt project on edge inputs: an empty warehouse builds; broken inputs fail the dbt tests
that guard them (and reports downstream of a failed test are not built); an as-of date."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb

from ledger_pipelines.reports.catalog import REPORTS
from ledger_pipelines.reports.dbt_runner import DbtRunResult, run_dbt
from tests.reports import scenarios
from tests.reports.conftest import build_warehouse
from tests.reports.ledger_fixture import LedgerBuilder


def _failed_tests(result: DbtRunResult) -> set[str]:
    return {n.name for n in result.nodes if n.resource_type == "test" and n.status in ("fail", "error")}


def test_empty_warehouse_builds_empty_reports(reports_workdir: Path) -> None:
    """No events yet: every model and test passes and every report exists, empty (run as a child process)."""
    built = build_warehouse(LedgerBuilder(), reports_workdir, "empty", in_process=False)
    result = built.result
    assert result.success, result.summary()
    assert len(result.nodes) > 150 and {n.status for n in result.nodes} <= {"success", "pass"}
    with duckdb.connect(str(built.path), read_only=True) as con:
        for name in REPORTS:
            assert con.execute(f"SELECT count(*) FROM reports.{name}").fetchone() == (0,)


def test_entries_without_snapshots_report_nothing_yet(reports_workdir: Path) -> None:
    """Mirrored but not yet snapshotted: no report dates, so no report rows (and no half-built ones)."""
    def tamper(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("DELETE FROM analytics.account_balance_snapshots; DELETE FROM analytics.category_balance_snapshots")

    built = build_warehouse(scenarios.hand_made(), reports_workdir, "no_snapshots", tamper=tamper)
    assert built.result.success, built.result.summary()
    for name in REPORTS:
        assert built.rows(f"SELECT count(*) FROM reports.{name}") == [(0,)], name


def test_unbalanced_snapshots_fail_the_accounting_identities(reports_workdir: Path) -> None:
    def tamper(con: duckdb.DuckDBPyConnection) -> None:
        # one minor unit of debits without a credit, and a credit liability the entries do not explain
        con.execute("UPDATE analytics.account_balance_snapshots SET posted_debits = posted_debits + 1, posted = posted + 1, "
                    "pending = pending + 1, available = available + 1 WHERE account = 'assets:cash:in_transit' AND currency = 'USD'")
        con.execute("UPDATE analytics.account_balance_snapshots SET posted_credits = posted_credits + 7, posted = posted + 7, "
                    "pending = pending + 7, available = available + 7 WHERE account = 'liabilities:customer_credits:sub_b'")

    built = build_warehouse(scenarios.hand_made(), reports_workdir, "broken_snapshots", tamper=tamper)
    assert not built.result.success
    failed = _failed_tests(built.result)
    assert "trial_balance_debits_equal_credits" in failed
    assert "assert_trial_balance_matches_entries" in failed
    assert "credit_liability_roll_forward" in failed
    assert "assert_balance_sheet_ties_to_trial_balance" in failed
    # the statements built on the snapshots and on the entries disagree as well; the totals of a
    # trial balance that failed its tests are not built
    assert {"assert_cash_flow_ties_to_cash_balances", "assert_general_ledger_ties_to_trial_balance"} <= failed
    assert "trial_balance_totals" in {n.name for n in built.result.nodes if n.status == "skipped"}
    tb_test = next(n for n in built.result.nodes if n.name == "trial_balance_debits_equal_credits")
    assert tb_test.failures == 3  # USD at the three month ends since the in-transit account first moved
    assert "trial_balance_debits_equal_credits" in built.result.summary()


def test_a_balance_sheet_that_does_not_balance_fails_the_statement_test(reports_workdir: Path) -> None:
    def tamper(con: duckdb.DuckDBPyConnection) -> None:  # assets one unit more than their accounts hold
        con.execute("UPDATE analytics.category_balance_snapshots SET posted_debits = posted_debits + 1, posted = posted + 1 "
                    "WHERE category = 'assets' AND currency = 'USD'")

    built = build_warehouse(scenarios.hand_made(), reports_workdir, "broken_categories", tamper=tamper)
    failed = _failed_tests(built.result)
    assert {"balance_sheet_balances", "assert_balance_sheet_statement_balances"} <= failed
    assert "assert_profit_and_loss_ties_to_income_statement" not in failed  # revenue and expenses are untouched


def test_unbalanced_transaction_stops_the_reports(reports_workdir: Path) -> None:
    b = scenarios.hand_made()

    def tamper(con: duckdb.DuckDBPyConnection) -> None:
        tid = b.txns["inv:inv_a1"].transaction_id
        con.execute("INSERT INTO analytics.entries SELECT transaction_id, 9, account_id, account, 'debit', 1, currency, "
                    "effective_at, effective_date FROM analytics.entries WHERE transaction_id = ? AND entry_no = 0", [tid])

    built = build_warehouse(b, reports_workdir, "broken_entries", tamper=tamper)
    assert not built.result.success
    assert "stg_entries_transactions_balance" in _failed_tests(built.result)
    # dbt build does not build reports on top of a failed test
    skipped = {n.name for n in built.result.nodes if n.status == "skipped"}
    assert {"subscription_statement", "ar_aging", "cash_position"} <= skipped


def test_report_date_variable_reports_as_of_that_day(reports_workdir: Path) -> None:
    built = build_warehouse(scenarios.hand_made(), reports_workdir, "as_of", vars={"report_date": "2024-02-15"})
    assert built.result.success, built.result.summary()
    dates = built.rows("SELECT DISTINCT period, as_of_date FROM reports.trial_balance ORDER BY 1")
    assert dates[-2:] == [("2024-01", date(2024, 1, 31)), ("2024-02", date(2024, 2, 15))]
    tb = {(r[0], r[1]): r[2:] for r in built.rows(
        "SELECT account, currency, debits, credits FROM reports.trial_balance WHERE as_of_date = DATE '2024-02-15'")}
    assert tb == built.ledger.posted_sums(date(2024, 2, 15))
    assert tb[("assets:cash:in_transit", "USD")] == (118000, 0)  # settled 14 Feb; the payout on the 20th is later
    assert built.rows("SELECT closing_mrr FROM reports.mrr_movements WHERE period = '2024-02' AND currency = 'KWD'") == [(12345,)]
    assert built.rows("SELECT max(period) FROM reports.subscription_statement") == [("2024-02",)]
    aging = {r[0]: r[1:] for r in built.rows(
        "SELECT customer_id, days_1_30, days_61_90, days_over_90 FROM reports.ar_aging WHERE as_of_date = DATE '2024-02-15'")}
    assert aging["cust_1"] == (1450, 700, 0)  # inv_a2 and u_1 open; sub_e is 87 days old on the 15th


def test_statement_tests_catch_a_statement_that_does_not_tie_out(hand_made_warehouse, reports_workdir: Path) -> None:
    """The statements' own tests, run on copies of built statements broken by one minor unit."""
    copy = reports_workdir / "broken_statements.duckdb"
    shutil.copy(hand_made_warehouse.path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE reports.trial_balance_totals SET credits = credits + 1, difference = difference - 1 "
                    "WHERE period = '2024-02' AND currency = 'USD'")
        con.execute("UPDATE reports.profit_and_loss_statement SET current_period = current_period + 1 "
                    "WHERE period = '2024-02' AND currency = 'USD' AND label = 'Net income'")
        con.execute("UPDATE reports.cash_flow_statement SET year_to_date = year_to_date + 1 "
                    "WHERE period = '2024-02' AND currency = 'USD' AND line_type = 'closing'")
    result = run_dbt(["test"], copy, select="trial_balance_totals profit_and_loss_statement cash_flow_statement",
                     target_path=reports_workdir / "target_statements", log_path=reports_workdir / "logs")
    assert {"trial_balance_totals_balance", "assert_profit_and_loss_ties_to_income_statement",
            "assert_cash_flow_ties_to_cash_balances"} <= _failed_tests(result)
