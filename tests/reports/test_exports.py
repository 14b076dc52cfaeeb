"""Exports for finance: read back as CSV (csv module), Parquet (pyarrow and polars) and XLSX
(openpyxl) with exact amounts; atomic writes; formula-injection neutralisation; JPY/KWD decimals."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger_pipelines.accounting.money import UnknownCurrency, decimals, format_minor, to_major
from ledger_pipelines.reports import exports
from ledger_pipelines.reports.catalog import REPORTS
from ledger_pipelines.reports.exports import ExportError, export_report, export_reports, export_table, neutralise
from tests.reports.conftest import BuiltWarehouse

MAX = 2**63 - 1


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (12345, "USD", "123.45"), (-12345, "USD", "-123.45"), (5, "USD", "0.05"), (-5, "USD", "-0.05"), (0, "USD", "0.00"),
    (1500, "JPY", "1500"), (-1500, "JPY", "-1500"), (12345, "KWD", "12.345"), (-1, "KWD", "-0.001"),
    (1, "CLF", "0.0001"), (MAX, "USD", "92233720368547758.07"), (-MAX - 1, "KWD", "-9223372036854775.808"),
])
def test_minor_to_major_units_is_exact(amount: int, currency: str, text: str) -> None:
    assert format_minor(amount, decimals(currency)) == text
    assert to_major(amount, decimals(currency)) == Decimal(text)
    assert to_major(amount, decimals(currency)).scaleb(decimals(currency)) == amount


def test_unknown_currency_says_what_to_check() -> None:
    with pytest.raises(UnknownCurrency, match="ISO 4217"):
        decimals("XXX")


@pytest.mark.parametrize(("text", "safe"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1+2", "'+1+2"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"), ("cust_1", "cust_1"), ("a=b", "a=b"), ("", ""),
])
def test_neutralise(text: str, safe: str) -> None:
    assert neutralise(text) == safe


def _sample() -> pa.Table:
    return pa.table({
        "period": ["2024-03"] * 5,
        "as_of_date": [date(2024, 3, 31)] * 5,
        "customer_id": ["=cmd|' /C calc'!A0", "+cust", "-cust", "@cust", "plain, \"quoted\"\nline"],
        "currency": ["USD", "JPY", "KWD", "USD", "EUR"],
        "amount": pa.array([-12345, 1500, 12345, MAX, None], pa.int64()),
        "count": pa.array([-3, 2, 1, 0, 7], pa.int64()),
        "at": pa.array([datetime(2024, 3, 1, 12, 30, tzinfo=UTC)] * 5, pa.timestamp("us", tz="UTC")),
        "flag": [True, False, True, False, None],
    })


def test_export_table_reads_back_exactly(tmp_path: Path) -> None:
    files, skipped, digest = export_table(_sample(), tmp_path / "r" / "2024-03", money_columns=["amount"], title="sample")
    assert set(files) == {"csv", "parquet", "xlsx"} and not skipped and len(digest) == 64

    # CSV: major units with the currency's decimals; text neutralised; negative numbers left alone
    with open(files["csv"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["amount"] for r in rows] == ["-123.45", "1500", "12.345", "92233720368547758.07", ""]
    assert [r["count"] for r in rows] == ["-3", "2", "1", "0", "7"]
    assert [r["customer_id"] for r in rows] == ["'=cmd|' /C calc'!A0", "'+cust", "'-cust", "'@cust", "plain, \"quoted\"\nline"]
    assert rows[0]["as_of_date"] == "2024-03-31" and rows[0]["at"] == "2024-03-01T12:30:00+00:00"
    assert [r["flag"] for r in rows] == ["true", "false", "true", "false", ""]

    # Parquet: the integers, untouched (pyarrow and polars)
    table = pq.read_table(files["parquet"])
    assert table.schema.field("amount").type == pa.int64()
    assert table.column("amount").to_pylist() == [-12345, 1500, 12345, MAX, None]
    frame = pl.read_parquet(files["parquet"])
    assert frame["amount"].dtype == pl.Int64 and frame["customer_id"][0] == "=cmd|' /C calc'!A0"

    # XLSX: numbers with the currency's decimals as number format; text never a formula
    # readable headers, the header row frozen, an autofilter over the table, columns wide enough
    sheet = openpyxl.load_workbook(files["xlsx"]).active
    header = [c.value for c in sheet[1]]
    assert header == ["Period", "As of", "Customer ID", "Currency", "Amount", "Count", "At", "Flag"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:H6"
    assert sheet.column_dimensions["E"].width >= len("92,233,720,368,547,758.07")
    amount_cells = [sheet.cell(row=i, column=header.index("Amount") + 1) for i in range(2, 7)]
    assert [Decimal(str(c.value)) if isinstance(c.value, (int, float)) else c.value for c in amount_cells[:3]] == [
        Decimal("-123.45"), Decimal("1500"), Decimal("12.345")]
    assert [c.number_format for c in amount_cells[:3]] == [
        "#,##0.00_);(#,##0.00)", "#,##0_);(#,##0)", "#,##0.000_);(#,##0.000)"]
    assert amount_cells[3].value == "92233720368547758.07"  # beyond 2**53: exact text, not a rounded number
    assert amount_cells[4].value is None
    texts = [sheet.cell(row=i, column=header.index("Customer ID") + 1) for i in range(2, 7)]
    assert [c.value for c in texts[:4]] == ["'=cmd|' /C calc'!A0", "'+cust", "'-cust", "'@cust"]
    assert all(c.data_type == "s" for c in texts)
    counts = [sheet.cell(row=i, column=header.index("Count") + 1).value for i in range(2, 7)]
    assert counts == [-3, 2, 1, 0, 7]


def test_csv_bytes_are_deterministic() -> None:
    table = _sample()
    assert exports.csv_bytes(table, ["amount"]) == exports.csv_bytes(table, ["amount"])


def test_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "trial_balance" / "2024-03"
    export_table(_sample(), base, money_columns=["amount"], formats=["parquet"])
    before = (base.with_suffix(".parquet")).read_bytes()

    def broken(table, handle, **kwargs):
        handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(exports.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        export_table(_sample(), base, money_columns=["amount"], formats=["parquet"])
    assert base.with_suffix(".parquet").read_bytes() == before  # the old file, whole
    assert sorted(p.name for p in base.parent.iterdir()) == ["2024-03.parquet"]  # no temporary left

    with pytest.raises(OSError, match="disk full"):
        export_table(_sample(), tmp_path / "new" / "2024-04", formats=["parquet"])
    assert list((tmp_path / "new").iterdir()) == []


def test_write_atomic_replaces_and_is_readable(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.csv"
    exports.write_atomic(target, lambda h: h.write(b"one"))
    exports.write_atomic(target, lambda h: h.write(b"two"))
    assert target.read_bytes() == b"two" and oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in target.parent.iterdir()] == ["b.csv"]


def test_xlsx_is_skipped_when_too_many_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 3)
    files, skipped, _ = export_table(_sample(), tmp_path / "x", money_columns=["amount"])
    assert set(files) == {"csv", "parquet"} and "CSV or Parquet" in skipped["xlsx"]


def test_money_without_currency_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="currency"):
        export_table(pa.table({"amount": [1]}), tmp_path / "x", money_columns=["amount"])


def test_export_of_the_built_reports(hand_made_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    results = export_reports(hand_made_warehouse.path, tmp_path)
    assert set(results) == set(REPORTS)
    with duckdb.connect(str(hand_made_warehouse.path), read_only=True) as con:
        for name, exported in results.items():
            periods = [p for (p,) in con.execute(f"SELECT DISTINCT period FROM reports.{name} ORDER BY 1").fetchall()]
            assert [e.period for e in exported] == periods
            for e in exported:
                assert {f.name for f in e.files.values()} == {f"{e.period}.csv", f"{e.period}.parquet", f"{e.period}.xlsx"}
                assert all(f.parent == tmp_path / name for f in e.files.values())
    assert sorted(p.name for p in (tmp_path / "trial_balance").iterdir()) == [
        f"{p}.{ext}" for p in ("2023-11", "2023-12", "2024-01", "2024-02", "2024-03") for ext in ("csv", "parquet", "xlsx")]

    # the trial balance of the latest day, read back three ways, equals the warehouse to the minor unit
    db = {(r[0], r[1]): r[2:] for r in hand_made_warehouse.rows(
        "SELECT account, currency, debits, credits, balance FROM reports.trial_balance WHERE period = '2024-03'")}
    with open(tmp_path / "trial_balance" / "2024-03.csv", newline="", encoding="utf-8") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert {(r["account"], r["currency"]): tuple(Decimal(r[c]).scaleb(decimals(r["currency"])) for c in ("debits", "credits", "balance"))
            for r in csv_rows} == db
    assert {(r["account"], r["currency"]): r["balance"] for r in csv_rows}[("revenue:refunds", "USD")] == "-5.00"
    assert {(r["account"], r["currency"]): r["balance"] for r in csv_rows}[("assets:receivables:sub_c", "JPY")] == "1500"
    parquet = pq.read_table(tmp_path / "trial_balance" / "2024-03.parquet").to_pylist()
    assert {(r["account"], r["currency"]): (r["debits"], r["credits"], r["balance"]) for r in parquet} == db
    sheet = openpyxl.load_workbook(tmp_path / "trial_balance" / "2024-03.xlsx").active
    header = [c.value for c in sheet[1]]
    xlsx = {}
    for row in sheet.iter_rows(min_row=2, values_only=True):
        record = dict(zip(header, row, strict=True))
        xlsx[(record["Account"], record["Currency"])] = tuple(
            Decimal(str(record[c])).scaleb(decimals(record["Currency"])) for c in ("Debits", "Credits", "Balance"))
    assert xlsx == db
    kwd = next(r for r in csv_rows if r["currency"] == "KWD")
    assert kwd["debits"] == "12.345"


def test_export_selected_periods_for_a_close_pack(hand_made_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    results = export_reports(hand_made_warehouse.path, tmp_path, reports=["mrr_movements", "credit_liability_rollforward"],
                             periods=["2023-12", "2024-02"], formats=["csv"])
    assert [e.period for e in results["mrr_movements"]] == ["2023-12", "2024-02"]
    assert [e.period for e in results["credit_liability_rollforward"]] == ["2024-02"]  # no credits before January
    text = (tmp_path / "mrr_movements" / "2024-02.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["currency"]: r["closing_mrr"] for r in rows} == {"USD": "110.00", "JPY": "1500", "KWD": "12.345"}
    assert sorted(p.name for p in (tmp_path / "mrr_movements").iterdir()) == ["2023-12.csv", "2024-02.csv"]


def test_export_names_missing_periods_and_unbuilt_reports(hand_made_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    with duckdb.connect(str(hand_made_warehouse.path), read_only=True) as con:
        with pytest.raises(ExportError, match="2030-01"):
            export_report(con, "trial_balance", tmp_path, periods=["2030-01"])
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con, pytest.raises(ExportError, match="build the reports"):
        export_report(con, "trial_balance", tmp_path)


def _stamps(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir())}


def test_only_periods_whose_content_changed_are_written_again(hand_made_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    copy = tmp_path / "w.duckdb"
    shutil.copy(hand_made_warehouse.path, copy)
    reports = tmp_path / "reports"
    first = export_reports(copy, reports, reports=["trial_balance", "mrr_movements"])
    assert all(p.rewritten for name in first for p in first[name])
    folder = reports / "trial_balance"
    before = _stamps(folder)

    again = export_reports(copy, reports, reports=["trial_balance", "mrr_movements"])
    assert [p.rewritten for p in again["trial_balance"]] == [False] * 5
    assert _stamps(folder) == before  # not a single file touched
    assert [p.files for p in again["trial_balance"]] == [p.files for p in first["trial_balance"]]

    # a late change in March: only March is written again
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE reports.trial_balance SET debits = debits + 1, credits = credits + 1 "
                    "WHERE period = '2024-03' AND account = 'assets:cash' AND currency = 'USD'")
    changed = export_reports(copy, reports, reports=["trial_balance"])
    assert [(p.period, p.rewritten) for p in changed["trial_balance"]] == [
        ("2023-11", False), ("2023-12", False), ("2024-01", False), ("2024-02", False), ("2024-03", True)]
    after = _stamps(folder)
    assert {n for n in after if after[n] != before[n]} == {"2024-03.csv", "2024-03.parquet", "2024-03.xlsx"}

    # a file deleted or edited by hand is written again, even though the content did not change
    (folder / "2024-01.xlsx").unlink()
    (folder / "2023-12.csv").write_text("edited")
    repaired = export_reports(copy, reports, reports=["trial_balance"])
    assert {p.period for p in repaired["trial_balance"] if p.rewritten} == {"2023-12", "2024-01"}
    assert (folder / "2023-12.csv").read_text().startswith("period,as_of_date,")

    # a damaged manifest: everything is written again, and the manifest repaired
    manifest = reports / exports.MANIFEST_FOLDER / "trial_balance.json"
    manifest.write_text("{not json")
    assert all(p.rewritten for p in export_reports(copy, reports, reports=["trial_balance"])["trial_balance"])
    assert set(json.loads(manifest.read_text())["periods"]) == {"2023-11", "2023-12", "2024-01", "2024-02", "2024-03"}


def test_the_outcome_counts_rewritten_and_unchanged_periods(hand_made_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    from ledger_pipelines.reports.publishing import export_for_finance, file_listing_markdown

    first = export_for_finance(hand_made_warehouse.path, tmp_path, ["trial_balance"])[0]
    assert (first.rewritten, first.unchanged, first.files_checked, first.problems) == (5, 0, 15, [])
    second = export_for_finance(hand_made_warehouse.path, tmp_path, ["trial_balance"])[0]
    assert (second.rewritten, second.unchanged, second.files_checked) == (0, 5, 0)
    listing = file_listing_markdown(second)
    assert "0 period(s) rewritten, 5 unchanged." in listing and "| 2024-03 | 18 |" in listing and "| unchanged |" in listing
