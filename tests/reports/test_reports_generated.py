"""Every report on a generated ledger (random but seeded; reporting time zone America/New_York)
against the independent Python computation in expected.py."""

from __future__ import annotations

from tests.reports import expected as exp
from tests.reports.conftest import BuiltWarehouse


def _nonzero(mapping: dict) -> dict:
    return {k: v for k, v in mapping.items() if (any(v.values()) if isinstance(v, dict) else v)}


def test_generated_ledger_exercises_every_case(generated_warehouse: BuiltWarehouse) -> None:
    """The data has what the comparisons below are meant to catch."""
    w = generated_warehouse
    assert w.result.success, w.result.summary()
    mrr = w.rows("SELECT sum(new_mrr), sum(expansion_mrr), sum(contraction_mrr), sum(churned_mrr), sum(reactivation_mrr) "
                 "FROM reports.mrr_movements")[0]
    assert all(v != 0 for v in mrr), mrr
    assert w.rows("SELECT count(DISTINCT currency) FROM reports.trial_balance")[0][0] >= 3
    assert w.rows("SELECT count(*) FROM reports.failed_payments")[0][0] > 0
    assert w.rows("SELECT sum(days_over_90), sum(days_31_60), sum(unapplied_credits) FROM reports.ar_aging")[0] > (0, 0, 0)
    assert w.rows("SELECT count(*) FROM reports.cash_position WHERE payments_pending > 0")[0][0] > 0
    # some entries are dated on another day in New York than in UTC
    assert w.rows("SELECT count(*) FROM analytics.entries WHERE effective_date <> CAST(timezone('UTC', effective_at) AS DATE)")[0][0] > 0


def test_trial_balance(generated_warehouse: BuiltWarehouse) -> None:
    rows = generated_warehouse.rows("SELECT as_of_date, account, currency, debits, credits, balance FROM reports.trial_balance")
    assert {(r[0], r[1], r[2]): r[3:] for r in rows} == exp.trial_balance(generated_warehouse.ledger)


def test_balance_sheet(generated_warehouse: BuiltWarehouse) -> None:
    got = {(r[0], r[1], r[2]): r[3] for r in generated_warehouse.rows(
        "SELECT as_of_date, category, currency, balance FROM reports.balance_sheet WHERE balance <> 0")}
    assert got == exp.balance_sheet(generated_warehouse.ledger)


def test_income_statement(generated_warehouse: BuiltWarehouse) -> None:
    got = {(r[0], r[1], r[2]): r[3] for r in generated_warehouse.rows(
        "SELECT period, category, currency, amount FROM reports.income_statement WHERE amount <> 0")}
    assert got == exp.income_statement(generated_warehouse.ledger)


def test_revenue_by_plan(generated_warehouse: BuiltWarehouse) -> None:
    got = {(r[0], r[1], r[2]): r[3] for r in generated_warehouse.rows(
        "SELECT period, plan_id, currency, revenue FROM reports.revenue_by_plan WHERE revenue <> 0")}
    assert got == exp.revenue_by_plan(generated_warehouse.ledger)


def test_mrr_movements(generated_warehouse: BuiltWarehouse) -> None:
    rows = generated_warehouse.rows("SELECT period, currency, " + ", ".join(exp.MRR_COLUMNS) + " FROM reports.mrr_movements")
    got = {(r[0], r[1]): dict(zip(exp.MRR_COLUMNS, r[2:], strict=True)) for r in rows}
    assert got == exp.mrr_movements(generated_warehouse.ledger)


def test_ar_aging(generated_warehouse: BuiltWarehouse) -> None:
    names = ("current_amount", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "total_open",
             "unapplied_credits", "receivable_balance")
    rows = generated_warehouse.rows("SELECT as_of_date, customer_id, currency, " + ", ".join(names) + " FROM reports.ar_aging")
    got = {(r[0], r[1], r[2]): dict(zip(names, r[3:], strict=True)) for r in rows}
    assert got == exp.ar_aging(generated_warehouse.ledger)


def test_credit_liability_rollforward(generated_warehouse: BuiltWarehouse) -> None:
    names = ("opening_balance", "granted", "applied", "other_movements", "closing_balance")
    rows = generated_warehouse.rows("SELECT period, currency, " + ", ".join(names) + " FROM reports.credit_liability_rollforward")
    got = {(r[0], r[1]): dict(zip(names, r[2:], strict=True)) for r in rows}
    assert got == exp.credit_rollforward(generated_warehouse.ledger)


def test_cash_position(generated_warehouse: BuiltWarehouse) -> None:
    names = ("cash_settled", "cash_in_transit", "payments_pending", "total_cash", "payments_initiated",
             "payments_initiated_amount", "payments_settled", "payments_settled_amount", "payments_failed",
             "payments_failed_amount")
    rows = generated_warehouse.rows("SELECT period, currency, " + ", ".join(names) + " FROM reports.cash_position")
    got = {(r[0], r[1]): dict(zip(names, r[2:], strict=True)) for r in rows}
    assert _nonzero(got) == _nonzero(exp.cash_position(generated_warehouse.ledger))


def test_failed_payments(generated_warehouse: BuiltWarehouse) -> None:
    rows = generated_warehouse.rows("SELECT payment_id, period, amount, currency, failed_date, reason FROM reports.failed_payments")
    assert {r[0]: r[1:] for r in rows} == exp.failed_payments(generated_warehouse.ledger)


def test_subscription_statement(generated_warehouse: BuiltWarehouse) -> None:
    rows = generated_warehouse.rows(
        "SELECT account, currency, transaction_id, entry_no, balance_after FROM reports.subscription_statement "
        "ORDER BY account, currency, line_no")
    got: dict = {}
    for account, currency, tid, no, after in rows:
        got.setdefault((account, currency), []).append((tid, no, after))
    assert got == exp.statements(generated_warehouse.ledger)
