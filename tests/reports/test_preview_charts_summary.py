"""Dagster-facing helpers: markdown previews, PNG charts, the demo summary."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ledger_pipelines.reports import charts, preview, summary
from ledger_pipelines.reports.catalog import REPORTS, report
from tests.reports.conftest import BuiltWarehouse
from tests.reports.ledger_fixture import LedgerBuilder


def test_preview_shows_latest_period_in_major_units(hand_made_warehouse: BuiltWarehouse) -> None:
    with duckdb.connect(str(hand_made_warehouse.path), read_only=True) as con:
        text = preview.preview_markdown(con, "trial_balance", limit=50)
        assert text.startswith("Trial balance, period 2024-03 (month to date through 2024-03-12: the month is not over): "
                               "18 of 18 rows")
        assert ("| 2024-03 | 2024-03-12 | false | assets:cash | assets | debit | USD | 1180.00 | 5.00 | 1175.00 | 1175.00 "
                "| 0.00 |") in text
        assert "| revenue:refunds | revenue | credit | USD | 5.00 | 0.00 | -5.00 | 5.00 | 0.00 |" in text
        assert "| KWD | 12.345 |" in text
        # March is month to date: the KWD subscription's renewal is not due yet (its MRR stays, no churn)
        short = preview.preview_markdown(con, "mrr_movements", limit=2, columns=["period", "currency", "closing_mrr"])
        assert short.splitlines()[2:] == ["| period | currency | closing_mrr |", "|---|---|---:|",
                                          "| 2024-03 | JPY | 0 |", "| 2024-03 | KWD | 12.345 |"]
        february = preview.preview_markdown(con, "trial_balance", period="2024-02")
        assert february.startswith("Trial balance, period 2024-02: 10 of")
        for name in REPORTS:
            assert preview.preview_markdown(con, name).count("\n") >= 3


def test_preview_escapes_pipes() -> None:
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA reports; CREATE TABLE reports.failed_payments AS SELECT '2024-01' AS period, "
                    "DATE '2024-01-02' AS failed_date, 'a|b' AS payment_id, 'USD' AS currency, 100::BIGINT AS amount")
        assert "| a\\|b | USD | 1.00 |" in preview.preview_markdown(con, "failed_payments")
        con.execute("DELETE FROM reports.failed_payments")
        assert "no rows yet" in preview.preview_markdown(con, "failed_payments")


@pytest.mark.parametrize("name", [n for n, s in REPORTS.items() if s.chart])
def test_charts_are_png(hand_made_warehouse: BuiltWarehouse, name: str, tmp_path: Path) -> None:
    with duckdb.connect(str(hand_made_warehouse.path), read_only=True) as con:
        png = charts.chart_for(con, name)
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    saved = charts.save_chart(png, tmp_path / f"{name}.png")
    assert saved.read_bytes() == png
    assert charts.png_markdown(png, name).startswith(f"![{name}](data:image/png;base64,iVBORw0KGgo")


def test_charts_cover_the_time_series_and_skip_the_rest(hand_made_warehouse: BuiltWarehouse) -> None:
    assert {s.chart for s in REPORTS.values() if s.chart} == set(charts.CHARTS)
    assert report("mrr_movements").chart and report("revenue_by_plan").chart and report("balance_sheet").chart
    with duckdb.connect(str(hand_made_warehouse.path), read_only=True) as con:
        assert charts.chart_for(con, "failed_payments") is None


def test_summary(hand_made_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    result = summary.summarize_file(hand_made_warehouse.path, tmp_path / "reports")
    assert result.balanced
    assert [(t.currency, t.debits, t.credits) for t in result.trial_balance] == [
        ("JPY", 4500, 4500), ("KWD", 12345, 12345), ("USD", 372100, 372100)]
    text = summary.format_summary(result)
    assert "Trial balance as of 2024-03-12: nets to zero in every currency." in text
    assert "USD: debits 3721.00 = credits 3721.00" in text
    # The last *complete* month: February. March to date is USD 125.00 (+15.00 on the month) and
    # KWD 0.000 (-12.345, the only KWD subscription churned), so February closed at USD 110.00 and
    # KWD 12.345 (new that month).
    assert "MRR 2024-02: USD 110.00 (+0.00 on the month, 2 subscriptions)." in text
    assert "MRR 2024-02: KWD 12.345 (+12.345 on the month, 1 subscriptions)." in text
    assert "2024-03" not in text.split("Trial balance")[1].split("\n", 1)[1]
    assert str(tmp_path / "reports") in text


def test_summary_of_an_empty_warehouse(tmp_path: Path) -> None:
    path = LedgerBuilder().write(tmp_path / "w.duckdb")
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA reports")
        con.execute("CREATE TABLE reports.trial_balance (as_of_date DATE, currency VARCHAR, debits BIGINT, credits BIGINT)")
        con.execute("CREATE TABLE reports.mrr_movements (currency VARCHAR, period VARCHAR, as_of_date DATE, "
                    "is_month_end BOOLEAN, closing_mrr BIGINT, opening_mrr BIGINT, active_subscriptions BIGINT)")
    text = summary.format_summary(summary.summarize_file(path))
    assert "no posted entries yet" in text
