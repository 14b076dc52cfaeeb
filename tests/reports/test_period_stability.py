"""Reports of a closed month never change: events that take effect after a month (late
settlements, reversals of its invoices, new credits, failures of its pending payments) leave every
report's rows for that month exactly as they were."""

from __future__ import annotations

from pathlib import Path

from ledger_pipelines.reports.catalog import REPORTS
from tests.reports import scenarios
from tests.reports.conftest import BuiltWarehouse, build_warehouse


def test_months_before_late_events_are_unchanged(hand_made_warehouse: BuiltWarehouse, reports_workdir: Path) -> None:
    b = scenarios.hand_made()
    # all effective in March, after February was closed
    b.payment("sub_c", "cust_3", "pay_c2", "inv_c2", 1500, "JPY", "2024-03-20T00:00:00+00:00")
    b.settle("pay:pay_c2", "2024-03-22T00:00:00+00:00")
    b.reverse("inv:inv_a2", "inv:inv_a2:void", "2024-03-20T12:00:00+00:00")  # voids a February invoice
    b.credit_granted("sub_a", "cust_1", "cr_a1", 800, "USD", "2024-03-21T00:00:00+00:00")
    b.fail("pay:pay_d1", "2024-03-20T00:00:00+00:00", reason="expired")
    b.usage("sub_b", "cust_2", "u_3", "seats", 2, 200, "USD", "2024-03-25T00:00:00+00:00")
    later = build_warehouse(b, reports_workdir, "late_events")
    assert later.result.success, later.result.summary()

    for name, spec in REPORTS.items():
        query = f"SELECT * FROM reports.{name} WHERE {spec.period_column} <= '2024-02' ORDER BY ALL"
        assert later.rows(query) == hand_made_warehouse.rows(query), f"{name}: a closed month changed"
        march = f"SELECT * FROM reports.{name} WHERE {spec.period_column} = '2024-03' ORDER BY ALL"
        if name not in ("credit_liability_rollforward",):
            assert later.rows(march) != hand_made_warehouse.rows(march), f"{name}: the late events should show in March"
    # and the late events do show where they belong
    assert later.rows("SELECT contraction_mrr, churned_mrr, closing_mrr FROM reports.mrr_movements "
                      "WHERE period = '2024-03' AND currency = 'USD'") == [(0, 0, 12500)]
    assert later.rows("SELECT granted, closing_balance FROM reports.credit_liability_rollforward "
                      "WHERE period = '2024-03'") == [(800, 2800)]
