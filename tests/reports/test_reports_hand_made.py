"""Every report on the hand-made ledger (scenarios.hand_made) against answers worked out by hand,
and against the independent Python computation (expected.py)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.reports import expected as exp
from tests.reports.conftest import BuiltWarehouse

NOV, DEC, JAN, FEB, MAR = date(2023, 11, 30), date(2023, 12, 31), date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 12)


def test_build_runs_every_model_and_test(hand_made_warehouse: BuiltWarehouse) -> None:
    result = hand_made_warehouse.result
    assert result.success, result.summary()
    models = {n.name for n in result.nodes if n.resource_type == "model"}
    assert {"trial_balance", "balance_sheet", "income_statement", "revenue_by_plan", "mrr_movements", "ar_aging",
            "credit_liability_rollforward", "cash_position", "failed_payments", "subscription_statement"} <= models
    tests = [n for n in result.nodes if n.resource_type == "test"]
    assert len(tests) > 100 and all(n.status == "pass" for n in tests)


def test_report_dates_are_month_ends_and_the_latest_day(hand_made_warehouse: BuiltWarehouse) -> None:
    rows = hand_made_warehouse.rows("SELECT DISTINCT period, as_of_date, is_month_end FROM reports.trial_balance ORDER BY 1")
    assert rows == [("2023-11", NOV, True), ("2023-12", DEC, True), ("2024-01", JAN, True), ("2024-02", FEB, True),
                    ("2024-03", MAR, False)]


def test_trial_balance_known_answers(hand_made_warehouse: BuiltWarehouse) -> None:
    tb = {(r[0], r[1], r[2]): r[3:] for r in hand_made_warehouse.rows(
        "SELECT as_of_date, account, currency, debits, credits, balance FROM reports.trial_balance")}
    jan_usd = {a: v for (d, a, c), v in tb.items() if d == JAN and c == "USD"}
    assert jan_usd == {
        "assets:receivables:sub_e": (700, 0, 700),
        "assets:receivables:sub_a": (1000, 1000, 0),
        "assets:receivables:sub_b": (120000, 3000, 117000),
        "assets:cash:in_transit": (1000, 0, 1000),
        "revenue:subscriptions:basic": (0, 1700, 1700),
        "revenue:subscriptions:pro": (0, 120000, 120000),
        "expenses:promotional_credits": (5000, 0, 5000),
        "liabilities:customer_credits:sub_b": (3000, 5000, 2000),
    }
    mar_usd = {a: v[2] for (d, a, c), v in tb.items() if d == MAR and c == "USD"}
    assert mar_usd == {
        "assets:receivables:sub_a": 2800, "assets:receivables:sub_b": 200, "assets:receivables:sub_e": 700,
        "assets:cash:in_transit": 1000, "assets:cash": 117500, "revenue:subscriptions:basic": 2700,
        "revenue:subscriptions:pro": 120000, "revenue:subscriptions:pro_monthly": 2500, "revenue:usage:api_calls": 300,
        "revenue:usage:seats": 200, "revenue:refunds": -500, "expenses:promotional_credits": 5000,
        "liabilities:customer_credits:sub_b": 2000,
    }
    totals = hand_made_warehouse.rows(
        "SELECT currency, sum(debits), sum(credits) FROM reports.trial_balance WHERE as_of_date = ? GROUP BY 1 ORDER BY 1", [MAR])
    assert totals == [("JPY", 4500, 4500), ("KWD", 12345, 12345), ("USD", 372100, 372100)]
    # the KWD payment is still pending: nothing posted on the in-transit account yet
    assert ("2024-03-12", "assets:cash:in_transit", "KWD") not in {(str(k[0]), k[1], k[2]) for k in tb}


def test_trial_balance_matches_independent_computation(hand_made_warehouse: BuiltWarehouse) -> None:
    rows = hand_made_warehouse.rows("SELECT as_of_date, account, currency, debits, credits, balance FROM reports.trial_balance")
    assert {(r[0], r[1], r[2]): r[3:] for r in rows} == exp.trial_balance(hand_made_warehouse.ledger)


def test_balance_sheet_balances(hand_made_warehouse: BuiltWarehouse) -> None:
    rows = hand_made_warehouse.rows(
        "SELECT category, balance FROM reports.balance_sheet WHERE as_of_date = ? AND currency = 'USD' AND depth = 1", [MAR])
    lines = dict(rows)
    assert lines == {"assets": 122200, "liabilities": 2000, "current_earnings": 120200}
    assert lines["assets"] == lines["liabilities"] + lines["current_earnings"]
    got = {(r[0], r[1], r[2]): r[3] for r in hand_made_warehouse.rows(
        "SELECT as_of_date, category, currency, balance FROM reports.balance_sheet WHERE balance <> 0")}
    assert got == exp.balance_sheet(hand_made_warehouse.ledger)


def test_income_statement(hand_made_warehouse: BuiltWarehouse) -> None:
    got = {(r[0], r[1], r[2]): r[3] for r in hand_made_warehouse.rows(
        "SELECT period, category, currency, amount FROM reports.income_statement WHERE amount <> 0")}
    assert got[("2024-02", "revenue", "USD")] == 950  # 1000 subscription + 450 usage - 500 refund
    assert got[("2024-02", "revenue:refunds", "USD")] == -500
    assert got[("2024-01", "net_income", "USD")] == 121000 - 5000
    assert got[("2024-03", "revenue:usage", "USD")] == -450 + 300 + 200  # reversal, correction, seats
    assert got == exp.income_statement(hand_made_warehouse.ledger)


def test_revenue_by_plan(hand_made_warehouse: BuiltWarehouse) -> None:
    got = {(r[0], r[1], r[2]): r[3] for r in hand_made_warehouse.rows(
        "SELECT period, plan_id, currency, revenue FROM reports.revenue_by_plan WHERE revenue <> 0")}
    assert got == {
        ("2023-11", "basic", "USD"): 700, ("2024-01", "basic", "USD"): 1000, ("2024-01", "pro", "USD"): 120000,
        ("2024-01", "basic_jp", "JPY"): 1500, ("2024-02", "basic", "USD"): 1000, ("2024-02", "basic_jp", "JPY"): 1500,
        ("2024-02", "gold", "KWD"): 12345, ("2024-03", "pro_monthly", "USD"): 2500,
    }
    assert got == exp.revenue_by_plan(hand_made_warehouse.ledger)


MRR_SQL = ("SELECT period, currency, " + ", ".join(exp.MRR_COLUMNS) + " FROM reports.mrr_movements")


def test_mrr_movements_known_answers(hand_made_warehouse: BuiltWarehouse) -> None:
    got = {(r[0], r[1]): dict(zip(exp.MRR_COLUMNS, r[2:], strict=True)) for r in hand_made_warehouse.rows(MRR_SQL)}
    short = {k: (v["opening_mrr"], v["new_mrr"], v["expansion_mrr"], v["contraction_mrr"], v["churned_mrr"],
                 v["reactivation_mrr"], v["closing_mrr"]) for k, v in got.items()}
    assert short == {
        ("2023-11", "USD"): (0, 700, 0, 0, 0, 0, 700),
        ("2023-12", "USD"): (700, 0, 0, 0, -700, 0, 0),
        ("2024-01", "USD"): (0, 11000, 0, 0, 0, 0, 11000),  # monthly 10.00 + annual 1,200.00 / 12
        ("2024-02", "USD"): (11000, 0, 0, 0, 0, 0, 11000),
        ("2024-03", "USD"): (11000, 0, 1500, 0, 0, 0, 12500),  # upgrade basic -> pro_monthly
        ("2024-01", "JPY"): (0, 1500, 0, 0, 0, 0, 1500),
        ("2024-02", "JPY"): (1500, 0, 0, 0, 0, 0, 1500),
        ("2024-03", "JPY"): (1500, 0, 0, 0, -1500, 0, 0),
        ("2024-02", "KWD"): (0, 12345, 0, 0, 0, 0, 12345),
        # March is month to date (through the 12th): sub_d's February invoice covers it until 15 March, so
        # its renewal is not due yet and it keeps its MRR; sub_c's service ended on 3 March: churned
        ("2024-03", "KWD"): (12345, 0, 0, 0, 0, 0, 12345),
    }
    pending = {k: (v["renewal_pending_mrr"], v["renewal_pending_subscriptions"]) for k, v in got.items() if v["renewal_pending_mrr"]}
    assert pending == {("2024-03", "KWD"): (12345, 1)}
    assert got == exp.mrr_movements(hand_made_warehouse.ledger)


AR_SQL = ("SELECT as_of_date, customer_id, currency, current_amount, days_1_30, days_31_60, days_61_90, days_over_90, "
          "total_open, unapplied_credits, receivable_balance FROM reports.ar_aging")


def test_ar_aging_known_answers(hand_made_warehouse: BuiltWarehouse) -> None:
    got = {(r[0], r[1], r[2]): r[3:8] for r in hand_made_warehouse.rows(AR_SQL)}
    assert got == {
        (NOV, "cust_1", "USD"): (0, 700, 0, 0, 0),
        (DEC, "cust_1", "USD"): (0, 0, 700, 0, 0),
        (JAN, "cust_1", "USD"): (0, 0, 0, 700, 0),
        (JAN, "cust_2", "USD"): (0, 117000, 0, 0, 0),  # invoice less the applied credit
        (FEB, "cust_1", "USD"): (0, 1450, 0, 0, 700),  # FIFO: the January payment settled inv_a1
        (FEB, "cust_3", "JPY"): (0, 1500, 0, 0, 0),
        (FEB, "cust_4", "KWD"): (0, 12345, 0, 0, 0),
        (MAR, "cust_1", "USD"): (0, 2800, 0, 0, 700),
        (MAR, "cust_2", "USD"): (200, 0, 0, 0, 0),  # usage invoiced on the report date
        (MAR, "cust_3", "JPY"): (0, 0, 1500, 0, 0),
        (MAR, "cust_4", "KWD"): (0, 12345, 0, 0, 0),  # the pending payment does not reduce it
    }


def test_ar_aging_matches_independent_fifo(hand_made_warehouse: BuiltWarehouse) -> None:
    names = ("current_amount", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "total_open",
             "unapplied_credits", "receivable_balance")
    got = {(r[0], r[1], r[2]): dict(zip(names, r[3:], strict=True)) for r in hand_made_warehouse.rows(AR_SQL)}
    assert got == exp.ar_aging(hand_made_warehouse.ledger)


def test_credit_liability_rollforward(hand_made_warehouse: BuiltWarehouse) -> None:
    rows = hand_made_warehouse.rows(
        "SELECT period, currency, opening_balance, granted, applied, other_movements, closing_balance "
        "FROM reports.credit_liability_rollforward ORDER BY period")
    assert rows == [("2024-01", "USD", 0, 5000, 3000, 0, 2000), ("2024-02", "USD", 2000, 0, 0, 0, 2000),
                    ("2024-03", "USD", 2000, 0, 0, 0, 2000)]


CASH_COLUMNS = ("cash_settled", "cash_in_transit", "total_cash", "payments_pending", "payments_initiated",
                "payments_initiated_amount", "payments_settled", "payments_settled_amount", "payments_failed",
                "payments_failed_amount")


def test_cash_position(hand_made_warehouse: BuiltWarehouse) -> None:
    got = {(r[0], r[1]): r[2:] for r in hand_made_warehouse.rows(
        "SELECT period, currency, " + ", ".join(CASH_COLUMNS) + ", paid_out_of_transit, refunds_amount FROM reports.cash_position")}
    assert got[("2024-01", "USD")] == (0, 1000, 1000, 0, 1, 1000, 1, 1000, 0, 0, 0, 0)
    assert got[("2024-02", "USD")] == (117500, 0, 117500, 0, 2, 118000, 1, 117000, 1, 1000, 118000, 500)
    assert got[("2024-03", "USD")] == (117500, 1000, 118500, 0, 1, 1000, 1, 1000, 0, 0, 0, 0)
    assert got[("2024-03", "KWD")] == (0, 0, 0, 12345, 1, 12345, 0, 0, 0, 0, 0, 0)
    assert got[("2024-01", "JPY")] == (0, 1500, 1500, 0, 1, 1500, 1, 1500, 0, 0, 0, 0)
    assert not [k for k in got if k[0] in ("2023-11", "2023-12")]  # no cash account yet


def test_failed_payments(hand_made_warehouse: BuiltWarehouse) -> None:
    rows = hand_made_warehouse.dicts("SELECT * FROM reports.failed_payments")
    assert len(rows) == 1
    row = rows[0]
    assert (row["period"], row["failed_date"], row["payment_id"], row["invoice_id"], row["subscription_id"],
            row["customer_id"], row["currency"], row["amount"], row["reason"], row["region"], row["days_pending"]) == (
        "2024-02", date(2024, 2, 5), "pay_a2", "inv_a2", "sub_a", "cust_1", "USD", 1000, "card_declined", "eu", 2)


def test_subscription_statement(hand_made_warehouse: BuiltWarehouse) -> None:
    rows = hand_made_warehouse.rows(
        "SELECT account, period, event_type, debit, credit, balance_after FROM reports.subscription_statement "
        "WHERE subscription_id IN ('sub_a', 'sub_b') ORDER BY account, line_no")
    assert rows == [
        ("assets:receivables:sub_a", "2024-01", "invoice.issued", 1000, 0, 1000),
        ("assets:receivables:sub_a", "2024-01", "payment.initiated", 0, 1000, 0),  # settled 7 Jan
        ("assets:receivables:sub_a", "2024-02", "invoice.issued", 1000, 0, 1000),
        ("assets:receivables:sub_a", "2024-02", "usage.recorded", 450, 0, 1450),
        ("assets:receivables:sub_a", "2024-03", "invoice.issued", 2500, 0, 3950),
        ("assets:receivables:sub_a", "2024-03", "transaction.reversed", 0, 450, 3500),
        ("assets:receivables:sub_a", "2024-03", "usage.recorded", 300, 0, 3800),
        ("assets:receivables:sub_a", "2024-03", "payment.initiated", 0, 1000, 2800),
        ("assets:receivables:sub_b", "2024-01", "invoice.issued", 120000, 0, 120000),
        ("assets:receivables:sub_b", "2024-01", "credit.applied", 0, 3000, 117000),
        ("assets:receivables:sub_b", "2024-02", "payment.initiated", 0, 117000, 0),
        ("assets:receivables:sub_b", "2024-03", "usage.recorded", 200, 0, 200),
        ("liabilities:customer_credits:sub_b", "2024-01", "credit.granted", 0, 5000, 5000),
        ("liabilities:customer_credits:sub_b", "2024-01", "credit.applied", 3000, 0, 2000),
    ]
    # the failed payment is not a booked entry; the pending KWD payment is not booked yet
    assert hand_made_warehouse.rows(
        "SELECT count(*) FROM reports.subscription_statement WHERE reference IN ('payment:pay_a2', 'payment:pay_d1')") == [(0,)]


@pytest.mark.parametrize("report", ["trial_balance", "balance_sheet", "income_statement", "revenue_by_plan",
                                    "mrr_movements", "ar_aging", "credit_liability_rollforward", "cash_position",
                                    "failed_payments", "subscription_statement"])
def test_money_columns_are_bigint_minor_units(hand_made_warehouse: BuiltWarehouse, report: str) -> None:
    from ledger_pipelines.reports.catalog import REPORTS

    spec = REPORTS[report]
    types = dict(hand_made_warehouse.rows(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'reports' AND table_name = ?",
        [report]))
    assert {c: types.get(c) for c in spec.money_columns} == dict.fromkeys(spec.money_columns, "BIGINT")
    assert types.get("currency") == "VARCHAR" and types.get(spec.period_column) == "VARCHAR"
    for column in spec.order_by:
        assert column in types
    assert not [c for c, t in types.items() if t in ("DOUBLE", "FLOAT", "REAL")]
