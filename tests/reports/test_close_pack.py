"""The month's close pack: one workbook and one HTML page a controller can sign off, read back."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import openpyxl
import pytest

from ledger_pipelines.reports.close_pack import ClosePackError, build_close_pack
from ledger_pipelines.reports.close_pack_render import html_page, workbook_bytes
from ledger_pipelines.reports.publishing import CLOSE_PACK_FOLDER, export_for_finance
from tests.reports.conftest import BuiltWarehouse

GENERATED_AT = datetime(2024, 3, 13, 8, 0, tzinfo=UTC)


def _pack(path: Path, period: str, **options):
    with duckdb.connect(str(path), read_only=True) as con:
        return build_close_pack(con, period, generated_at=GENERATED_AT, **options)


def _table(sheet) -> tuple[int, list[str], list[tuple]]:
    """(header row number, header, the rows below it) of a pack sheet."""
    header_row = next(r for r in range(1, 20) if sheet.cell(row=r, column=1).value == "Currency")
    header = [c.value for c in sheet[header_row] if c.value is not None]
    rows = [row[:len(header)] for row in sheet.iter_rows(min_row=header_row + 1, values_only=True)]
    return header_row, header, rows


def test_the_workbook_has_a_cover_and_one_sheet_per_statement(hand_made_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    pack = _pack(hand_made_warehouse.path, "2024-03", entity="Acme Subscriptions Ltd")
    path = tmp_path / "pack.xlsx"
    path.write_bytes(workbook_bytes(pack))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Cover", "Trial balance", "Balance sheet", "Income statement", "Cash flow", "AR aging", "MRR"]

    cover = {row[0]: row[1] for row in book["Cover"].iter_rows(min_row=3, max_col=2, values_only=True) if row[0]}
    assert cover["Entity"] == "Acme Subscriptions Ltd" and cover["Period"] == "2024-03"
    assert cover["Status"].startswith("MONTH TO DATE through 2024-03-12")  # the hand-made ledger ends on the 12th
    assert cover["Comparatives"] == "Prior period: as of 2024-02-29. Start of year: as of 2023-12-31."
    assert cover["Generated at"] == "2024-03-13T08:00:00+00:00"
    assert cover["Checks"] == "4 of 4 passed"
    assert "Ledger watermark" not in cover  # the test warehouse has no mirror state
    passed = [row for row in book["Cover"].iter_rows(max_col=2, values_only=True) if row[0] == "passed"]
    assert len(passed) == 4

    for name in book.sheetnames[1:]:
        sheet = book[name]
        header_row, header, rows = _table(sheet)
        assert sheet["A1"].value.startswith("Acme Subscriptions Ltd: ")
        assert sheet["A3"].value.startswith("MONTH TO DATE")
        assert sheet.freeze_panes == f"A{header_row + 1}"
        assert sheet.auto_filter.ref.startswith(f"A{header_row}:")
        assert all(sheet.column_dimensions[c].width >= 10 for c in "AB")
        assert header[0] == "Currency" and rows, name

    # the trial balance: one block per currency, each closing with its total; debits = credits
    header_row, header, rows = _table(book["Trial balance"])
    assert header == ["Currency", "Account", "Debits", "Credits", "Debit balance", "Credit balance"]
    totals = {r[0]: tuple(Decimal(str(x)) for x in r[2:]) for r in rows if str(r[1]).startswith("Total")}
    assert totals == {"JPY": (4500, 4500, 3000, 3000), "KWD": (Decimal("12.345"),) * 4, "USD": (3721, 3721, 1277, 1277)}
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # currencies never interleave
    at = [r[:2] for r in rows].index(("USD", "assets:cash"))
    cell = book["Trial balance"].cell(row=header_row + 1 + at, column=3)
    assert Decimal(str(cell.value)) == Decimal("1180.00") and cell.number_format == "#,##0.00_);(#,##0.00)"

    # the balance sheet balances in each currency, in all three columns
    _, header, rows = _table(book["Balance sheet"])
    assert header == ["Currency", "Line", "Balance", "Prior period", "Start of year"]
    for currency in ("JPY", "KWD", "USD"):
        assets = next(r for r in rows if r[0] == currency and r[1] == "Total assets")
        other = next(r for r in rows if r[0] == currency and r[1] == "Total liabilities and equity")
        assert assets[2:] == other[2:], currency
    usd = [r[1] for r in rows if r[0] == "USD"]
    assert usd == ["Amounts in USD", "Assets", "Cash", "Receivables", "Total assets", "Liabilities", "Customer credits",
                   "Total liabilities", "Equity", "Current earnings", "Total equity", "Total liabilities and equity"]

    # the income statement in statement order, the month and the year to date
    _, _, rows = _table(book["Income statement"])
    usd = [(r[1], r[2], r[4]) for r in rows if r[0] == "USD"]
    assert [u[0] for u in usd] == ["Amounts in USD", "Revenue", "Refunds", "Subscriptions", "Usage", "Total revenue",
                                   "Expenses", "Promotional credits", "Total expenses", "Net income"]
    net = next(u for u in usd if u[0] == "Net income")
    assert (Decimal(str(net[1])), Decimal(str(net[2]))) == (Decimal("25.50"), Decimal("1195.00"))

    # the MRR of a month to date: the KWD subscription's renewal is not due: no churn
    _, header, rows = _table(book["MRR"])
    kwd = dict(zip(header, next(r for r in rows if r[0] == "KWD"), strict=True))
    assert Decimal(str(kwd["Churn"])) == 0 and Decimal(str(kwd["Renewal pending"])) == Decimal("12.345")


def test_a_complete_month_is_not_marked_month_to_date(hand_made_warehouse: BuiltWarehouse) -> None:
    pack = _pack(hand_made_warehouse.path, "2024-02")
    assert pack.is_month_end and pack.status == "Month end: the whole month" and pack.checks_passed
    assert pack.entity is None
    page = html_page(pack)
    assert "MONTH TO DATE" not in page and "Close pack 2024-02</title>" in page


def test_the_entity_comes_from_the_settings(hand_made_warehouse: BuiltWarehouse,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger_pipelines.config import load_settings

    monkeypatch.setenv("SUBLEDGER_ENTITY", "Example GmbH")
    entity = load_settings().entity_name
    assert entity == "Example GmbH" and _pack(hand_made_warehouse.path, "2024-02", entity=entity).entity == entity


def test_the_html_page_shows_the_same_statements(hand_made_warehouse: BuiltWarehouse) -> None:
    page = html_page(_pack(hand_made_warehouse.path, "2024-03", entity="Acme <Subscriptions>"))
    assert "Close pack 2024-03: Acme &lt;Subscriptions&gt;" in page  # escaped
    assert page.count("<section>") == 6 and "MONTH TO DATE through 2024-03-12" in page
    assert "<td>Total liabilities and equity</td><td class='num'>1,222.00</td>" in page
    assert "<td class='num'>(5.00)</td>" in page  # refunds reduce revenue: negative, in parentheses
    assert "<tr class='total'><td>KWD</td><td>Total KWD (2 accounts)</td><td class='num'>12.345</td>" in page
    assert page.count("class='passed'>passed</span>") == 4


def test_the_watermark_is_on_the_cover_when_the_warehouse_has_one(hand_made_warehouse: BuiltWarehouse,
                                                                   tmp_path: Path) -> None:
    copy = tmp_path / "w.duckdb"
    shutil.copy(hand_made_warehouse.path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS warehouse_meta; CREATE TABLE warehouse_meta.mirror_state AS SELECT '7411:7411:' AS snapshot, "
                    "TIMESTAMPTZ '2024-03-13 07:59:00+00' AS taken_at, TIMESTAMPTZ '2024-03-13 07:59:30+00' AS mirrored_at, "
                    "'UTC' AS timezone, 12::BIGINT AS runs")
    pack = _pack(copy, "2024-03")
    assert pack.watermark["snapshot"] == "7411:7411:" and pack.timezone == "UTC"
    assert "Postgres snapshot 7411:7411:, taken 2024-03-13T07:59:00+00:00" in html_page(pack)
    assert "as of the end of 2024-03-12 in UTC" in html_page(pack)


def test_a_statement_that_does_not_tie_out_fails_its_check(hand_made_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    copy = tmp_path / "w.duckdb"
    shutil.copy(hand_made_warehouse.path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE reports.balance_sheet_statement SET balance = balance + 1 "
                    "WHERE period = '2024-02' AND currency = 'USD' AND label = 'Total assets'")
    pack = _pack(copy, "2024-02")
    failed = [c for c in pack.checks if not c.passed]
    assert [(c.name, c.detail) for c in failed] == [
        ("Balance sheet: total assets = total liabilities and equity", "does not balance in USD")]
    assert "FAILED" in html_page(pack) and "3 of 4 passed: SEE BELOW" in html_page(pack)

    outcomes = export_for_finance(copy, tmp_path / "reports", ["trial_balance", "balance_sheet_statement"],
                                  periods=["2024-02"], close_pack=True)
    problems = {o.report: o.problems for o in outcomes}
    assert problems["trial_balance"] == []
    assert len(problems["balance_sheet_statement"]) == 1 and "FAILED" in problems["balance_sheet_statement"][0]


def test_export_for_finance_writes_the_pack_and_its_manifest(hand_made_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    export_for_finance(hand_made_warehouse.path, reports, ["trial_balance", "mrr_movements"], periods=["2024-02"],
                       close_pack=True)
    folder = reports / CLOSE_PACK_FOLDER
    assert sorted(p.name for p in folder.iterdir()) == ["2024-02.html", "2024-02.json", "2024-02.xlsx"]
    manifest = json.loads((folder / "2024-02.json").read_text())
    assert manifest["month_to_date"] is False and manifest["as_of_date"] == "2024-02-29"
    assert set(manifest["workbook"]) == {"xlsx", "html"} and all(c["passed"] for c in manifest["checks"])
    assert {(f["report"], f["format"]) for f in manifest["files"]} == {
        (r, f) for r in ("trial_balance", "mrr_movements") for f in ("csv", "parquet", "xlsx")}
    assert openpyxl.load_workbook(folder / "2024-02.xlsx").sheetnames[0] == "Cover"


def test_a_month_without_statements_says_what_to_do(hand_made_warehouse: BuiltWarehouse) -> None:
    with pytest.raises(ClosePackError, match="no statements for 2030-01"):
        _pack(hand_made_warehouse.path, "2030-01")
