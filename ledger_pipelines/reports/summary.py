"""The short report summary ``subledger demo`` prints at the end.

Two things finance checks first: the trial balance nets to zero in every currency (debits =
credits at the latest date), and MRR of the last month per currency. Read from the warehouse
(read-only), formatted in major units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from ledger_pipelines.accounting.money import decimals, format_minor


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    debits: int
    credits: int

    @property
    def net(self) -> int:
        return self.debits - self.credits


@dataclass(frozen=True)
class MonthlyMrr:
    currency: str
    period: str
    as_of_date: date
    complete: bool
    mrr: int
    net_new: int
    active_subscriptions: int


@dataclass(frozen=True)
class ReportSummary:
    as_of_date: date | None
    trial_balance: list[CurrencyTotals]
    mrr: list[MonthlyMrr]
    reports_dir: Path | None = None

    @property
    def balanced(self) -> bool:
        return all(t.net == 0 for t in self.trial_balance)


def summarize(con: duckdb.DuckDBPyConnection, reports_dir: Path | None = None) -> ReportSummary:
    """Trial balance totals per currency at the latest date and the last complete month's MRR per currency."""
    row = con.execute("SELECT max(as_of_date) FROM reports.trial_balance").fetchone()
    latest = row[0] if row else None
    totals = [
        CurrencyTotals(c, int(d), int(cr))
        for c, d, cr in con.execute(
            "SELECT currency, sum(debits), sum(credits) FROM reports.trial_balance WHERE as_of_date = ? "
            "GROUP BY currency ORDER BY currency", [latest]).fetchall()
    ]
    mrr = [
        MonthlyMrr(c, p, a, bool(m), int(closing), int(closing - opening), int(active))
        for c, p, a, m, closing, opening, active in con.execute(
            "SELECT currency, period, as_of_date, is_month_end, closing_mrr, opening_mrr, active_subscriptions "
            # the last complete month (a month-to-date period only if no month has ended yet)
            "FROM reports.mrr_movements QUALIFY period = coalesce("
            "max(CASE WHEN is_month_end THEN period END) OVER (PARTITION BY currency), max(period) OVER (PARTITION BY currency)) "
            "ORDER BY currency").fetchall()
    ]
    return ReportSummary(latest, totals, mrr, reports_dir)


def summarize_file(duckdb_path: Path | str, reports_dir: Path | None = None) -> ReportSummary:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return summarize(con, reports_dir)


def format_summary(summary: ReportSummary) -> str:
    """Lines for the terminal."""
    lines = []
    if summary.reports_dir is not None:
        lines.append(f"Reports: {summary.reports_dir}/<report>/<YYYY-MM>.csv|.parquet|.xlsx")
    if summary.as_of_date is None:
        lines.append("The trial balance is empty: no posted entries yet.")
        return "\n".join(lines)
    state = "nets to zero in every currency" if summary.balanced else "DOES NOT BALANCE; run `subledger verify`"
    lines.append(f"Trial balance as of {summary.as_of_date}: {state}.")
    for t in summary.trial_balance:
        places = decimals(t.currency)
        lines.append(f"  {t.currency}: debits {format_minor(t.debits, places)} = credits {format_minor(t.credits, places)}"
                     + ("" if t.net == 0 else f" (off by {format_minor(t.net, places)})"))
    for m in summary.mrr:
        places = decimals(m.currency)
        through = "" if m.complete else f" (month to date, through {m.as_of_date})"
        sign = "+" if m.net_new >= 0 else ""
        lines.append(f"MRR {m.period}{through}: {m.currency} {format_minor(m.mrr, places)} "
                     f"({sign}{format_minor(m.net_new, places)} on the month, {m.active_subscriptions} subscriptions).")
    if not summary.mrr:
        lines.append("MRR: no invoices yet.")
    return "\n".join(lines)
