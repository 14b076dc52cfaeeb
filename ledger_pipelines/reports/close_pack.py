"""The month's close pack: one workbook (and the same as one HTML page) for the controller.

:func:`build_close_pack` reads one period's statements from the published warehouse (read-only)
into a :class:`ClosePack` -- a cover (entity, period, month end or month to date, as-of date,
ledger watermark, when it was generated, which tie-outs passed) and one sheet per statement:
trial balance, balance sheet, income statement, cash flow, AR aging, MRR. Every sheet is one table
whose first column is the currency: each currency is its own block, with its own totals, and
amounts in different currencies are never added up. :mod:`.close_pack_render` writes it as XLSX
and HTML.

The tie-outs are recomputed here from the figures the pack shows, so the cover vouches for what
is on the sheets: the trial balance balances, total assets = total liabilities and equity, cash at
the beginning + the net change = cash at the end, and net income for the year to date = the change
of current earnings since the start of the year.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb

# line types of the statement marts -> row styles of the pack
_STYLES = {"header": "section", "line": "line", "subtotal": "subtotal", "total": "total", "opening": "line",
           "net_change": "subtotal", "closing": "total"}


@dataclass(frozen=True)
class Column:
    title: str
    kind: str = "text"  # text | money | count


@dataclass(frozen=True)
class Row:
    currency: str
    cells: tuple[Any, ...]  # after the currency column; money as int minor units
    style: str = "line"  # block | section | line | subtotal | total
    indent: int = 0


@dataclass(frozen=True)
class Sheet:
    name: str  # the tab, at most 31 characters
    title: str
    columns: tuple[Column, ...]  # after the currency column
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str = ""
    report: str = "trial_balance"  # the report whose figures it checks


@dataclass(frozen=True)
class ClosePack:
    entity: str | None
    period: str
    as_of_date: date
    is_month_end: bool
    prior_as_of_date: date | None
    year_opening_date: date | None
    timezone: str | None
    watermark: dict[str, Any] | None
    generated_at: datetime
    checks: tuple[Check, ...]
    sheets: tuple[Sheet, ...] = field(default_factory=tuple)

    @property
    def checks_passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def status(self) -> str:
        if self.is_month_end:
            return "Month end: the whole month"
        return f"MONTH TO DATE through {self.as_of_date.isoformat()}: the month is not over and these figures will change"


class ClosePackError(RuntimeError):
    """The pack cannot be built; the message says why and what to do."""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    result = con.execute(sql, list(params))
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _watermark(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The Postgres snapshot the warehouse mirrors (warehouse_meta.mirror_state), if it has one."""
    try:
        found = _rows(con, "SELECT snapshot, taken_at, mirrored_at, timezone FROM warehouse_meta.mirror_state LIMIT 1")
    except duckdb.CatalogException:
        return None
    return found[0] if found else None


def _statement_rows(records: list[dict[str, Any]], amounts: tuple[str, ...]) -> list[Row]:
    """Statement lines (mart rows ordered by currency, line_no) with a title row per currency."""
    rows: list[Row] = []
    for record in records:
        currency = record["currency"]
        if not rows or rows[-1].currency != currency:
            rows.append(Row(currency, (f"Amounts in {currency}",) + (None,) * len(amounts), "block"))
        rows.append(Row(currency, (record["label"], *(record[a] for a in amounts)),
                        _STYLES[record["line_type"]], int(record["indent"] or 0)))
    return rows


def _trial_balance(con: duckdb.DuckDBPyConnection, period: str) -> tuple[Sheet, Check]:
    accounts = _rows(con, "SELECT currency, account, debits, credits, debit_balance, credit_balance "
                          "FROM reports.trial_balance WHERE period = ? ORDER BY currency, account", [period])
    totals = {t["currency"]: t for t in _rows(
        con, "SELECT currency, accounts, debits, credits, debit_balances, credit_balances, difference "
             "FROM reports.trial_balance_totals WHERE period = ?", [period])}
    rows: list[Row] = []
    for index, record in enumerate(accounts):
        currency = record["currency"]
        rows.append(Row(currency, (record["account"], record["debits"], record["credits"], record["debit_balance"],
                                   record["credit_balance"])))
        if index + 1 == len(accounts) or accounts[index + 1]["currency"] != currency:
            t = totals[currency]
            rows.append(Row(currency, (f"Total {currency} ({t['accounts']} accounts)", t["debits"], t["credits"],
                                       t["debit_balances"], t["credit_balances"]), "total"))
    off = [c for c, t in sorted(totals.items()) if t["difference"] or t["debit_balances"] != t["credit_balances"]]
    check = Check("Trial balance: debits = credits in every currency", not off,
                  f"out of balance in {', '.join(off)}" if off else f"{len(totals)} currencies")
    columns = (Column("Account"), Column("Debits", "money"), Column("Credits", "money"),
               Column("Debit balance", "money"), Column("Credit balance", "money"))
    return Sheet("Trial balance", "Trial balance", columns, tuple(rows),
                 ("Debits and credits are the cumulative posted totals through the as-of date; the balance of each "
                  "account is shown on its side.",)), check


def _balance_sheet(con: duckdb.DuckDBPyConnection, period: str) -> tuple[Sheet, list[dict[str, Any]], Check]:
    records = _rows(con, "SELECT * FROM reports.balance_sheet_statement WHERE period = ? ORDER BY currency, line_no",
                    [period])
    sides: dict[str, dict[str, tuple]] = defaultdict(dict)
    for r in records:
        if r["line_type"] == "total":
            sides[r["currency"]][r["label"]] = (r["balance"], r["prior_period_balance"], r["start_of_year_balance"])
    off = [c for c, s in sorted(sides.items())
           if s.get("Total assets") != s.get("Total liabilities and equity")]
    check = Check("Balance sheet: total assets = total liabilities and equity", not off,
                  f"does not balance in {', '.join(off)}" if off else f"{len(sides)} currencies, all three columns",
                  "balance_sheet_statement")
    columns = (Column("Line"), Column("Balance", "money"), Column("Prior period", "money"), Column("Start of year", "money"))
    notes = ("Current earnings: revenue + other income - expenses to date; the ledger does not close them into "
             "equity at year end.",)
    return Sheet("Balance sheet", "Balance sheet", columns, tuple(_statement_rows(
        records, ("balance", "prior_period_balance", "start_of_year_balance"))), notes), records, check


def _income_statement(con: duckdb.DuckDBPyConnection, period: str, balance_sheet: list[dict[str, Any]]
                      ) -> tuple[Sheet, Check]:
    records = _rows(con, "SELECT * FROM reports.profit_and_loss_statement WHERE period = ? ORDER BY currency, line_no",
                    [period])
    net = {r["currency"]: r["year_to_date"] for r in records if r["category"] == "net_income"}
    earned = {r["currency"]: r["balance"] - r["start_of_year_balance"]
              for r in balance_sheet if r["category"] == "current_earnings"}
    off = sorted(c for c in set(net) | set(earned) if net.get(c, 0) != earned.get(c, 0))
    check = Check("Income statement: net income for the year to date = change of current earnings", not off,
                  f"differs in {', '.join(off)}" if off else f"{len(net)} currencies", "profit_and_loss_statement")
    columns = (Column("Line"), Column("This period", "money"), Column("Prior period", "money"),
               Column("Year to date", "money"))
    return Sheet("Income statement", "Income statement", columns, tuple(_statement_rows(
        records, ("current_period", "prior_period", "year_to_date")))), check


def _cash_flow(con: duckdb.DuckDBPyConnection, period: str) -> tuple[Sheet, Check]:
    records = _rows(con, "SELECT * FROM reports.cash_flow_statement WHERE period = ? ORDER BY currency, line_no",
                    [period])
    parts: dict[str, dict[str, tuple]] = defaultdict(dict)
    for r in records:
        if r["line_type"] in ("opening", "net_change", "closing"):
            parts[r["currency"]][r["line_type"]] = (r["current_period"], r["prior_period"], r["year_to_date"])
    off = [c for c, p in sorted(parts.items())
           if any(p["opening"][i] + p.get("net_change", (0, 0, 0))[i] != p["closing"][i] for i in range(3))]
    check = Check("Cash flow: cash at the beginning + net change = cash at the end", not off,
                  f"differs in {', '.join(off)}" if off else f"{len(parts)} currencies, all three columns",
                  "cash_flow_statement")
    columns = (Column("Line"), Column("This period", "money"), Column("Prior period", "money"),
               Column("Year to date", "money"))
    notes = ("Direct method: every movement of the cash accounts (settled cash and cash in transit) by where it came "
             "from or went to.",)
    return Sheet("Cash flow", "Cash-flow statement", columns, tuple(_statement_rows(
        records, ("current_period", "prior_period", "year_to_date"))), notes), check


_AGING = ("current_amount", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "total_open", "unapplied_credits",
          "receivable_balance")


def _ar_aging(con: duckdb.DuckDBPyConnection, period: str) -> Sheet:
    records = _rows(con, f"SELECT currency, customer_id, {', '.join(_AGING)} FROM reports.ar_aging WHERE period = ? "
                         "ORDER BY currency, total_open DESC, customer_id", [period])
    rows: list[Row] = []
    sums: dict[str, list[int]] = defaultdict(lambda: [0] * len(_AGING))
    for index, r in enumerate(records):
        rows.append(Row(r["currency"], (r["customer_id"], *(r[c] for c in _AGING))))
        sums[r["currency"]] = [a + r[c] for a, c in zip(sums[r["currency"]], _AGING, strict=True)]
        if index + 1 == len(records) or records[index + 1]["currency"] != r["currency"]:
            rows.append(Row(r["currency"], (f"Total {r['currency']}", *sums[r["currency"]]), "total"))
    columns = (Column("Customer"), Column("Current", "money"), Column("1-30 days", "money"), Column("31-60 days", "money"),
               Column("61-90 days", "money"), Column("Over 90 days", "money"), Column("Total open", "money"),
               Column("Unapplied credits", "money"), Column("Receivable balance", "money"))
    notes = ("Open receivables by days past the invoice, payments applied oldest first (FIFO).",)
    return Sheet("AR aging", "Accounts receivable aging", columns, tuple(rows), notes)


_MRR = ("opening_mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr", "closing_mrr")


def _mrr(con: duckdb.DuckDBPyConnection, period: str, month_to_date: bool) -> Sheet:
    records = _rows(con, f"SELECT currency, {', '.join(_MRR)}, active_subscriptions, renewal_pending_mrr, "
                         "renewal_pending_subscriptions FROM reports.mrr_movements WHERE period = ? ORDER BY currency",
                    [period])
    rows = tuple(Row(r["currency"], (*(r[c] for c in _MRR), r["active_subscriptions"], r["renewal_pending_mrr"],
                                     r["renewal_pending_subscriptions"])) for r in records)
    columns = (Column("Opening MRR", "money"), Column("New", "money"), Column("Expansion", "money"),
               Column("Contraction", "money"), Column("Churn", "money"), Column("Reactivation", "money"),
               Column("Closing MRR", "money"), Column("Subscriptions", "count"), Column("Renewal pending", "money"),
               Column("Renewals pending", "count"))
    notes = ["MRR: monthly recurring revenue of the invoices contributing to the month (docs/reports.md)."]
    if month_to_date:
        notes.append("Month to date: subscriptions whose renewal is not due yet keep their MRR (Renewal pending); "
                     "they are not churn.")
    return Sheet("MRR", "MRR movements", columns, rows, tuple(notes))


def build_close_pack(con: duckdb.DuckDBPyConnection, period: str, *, entity: str | None = None,
                     generated_at: datetime | None = None) -> ClosePack:
    """The close pack of ``period`` (``YYYY-MM``) from a warehouse with the reports built.

    ``entity`` is the name on the cover (``SUBLEDGER_ENTITY``, ``Settings.entity_name``); left out when None."""
    dates = _rows(con, "SELECT DISTINCT as_of_date, is_month_end, prior_as_of_date, year_opening_date "
                       "FROM reports.balance_sheet_statement WHERE period = ?", [period])
    if not dates:
        raise ClosePackError(f"the warehouse has no statements for {period}; build the reports (`subledger run`) or "
                             "choose a month the ledger has entries for.")
    when = dates[0]
    trial_balance, tb_check = _trial_balance(con, period)
    balance_sheet, bs_records, bs_check = _balance_sheet(con, period)
    income, pl_check = _income_statement(con, period, bs_records)
    cash_flow, cf_check = _cash_flow(con, period)
    watermark = _watermark(con)
    return ClosePack(
        entity=entity or None,
        period=period,
        as_of_date=when["as_of_date"],
        is_month_end=bool(when["is_month_end"]),
        prior_as_of_date=when["prior_as_of_date"],
        year_opening_date=when["year_opening_date"],
        timezone=watermark["timezone"] if watermark else None,
        watermark=watermark,
        generated_at=generated_at or datetime.now(UTC),
        checks=(tb_check, bs_check, pl_check, cf_check),
        sheets=(trial_balance, balance_sheet, income, cash_flow, _ar_aging(con, period),
                _mrr(con, period, not when["is_month_end"])),
    )
