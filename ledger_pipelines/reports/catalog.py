"""The finance reports (dbt models in schema ``reports``) and how to present each one.

For every report: which columns are money (BIGINT minor units of the row's ``currency``, shown in
major units in CSV/XLSX/previews), the column that splits it into per-period export files, the
row order of an export, and which chart (if any) its Dagster asset shows. The column meanings are
in docs/reports.md; ``tests/reports`` checks this table against the built models.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA = "reports"


@dataclass(frozen=True)
class ReportSpec:
    name: str
    title: str
    money_columns: tuple[str, ...]
    order_by: tuple[str, ...]
    period_column: str = "period"
    currency_column: str = "currency"
    chart: str | None = None  # a key of charts.CHARTS

    @property
    def relation(self) -> str:
        return f"{SCHEMA}.{self.name}"


_REPORTS = [
    ReportSpec("trial_balance", "Trial balance", ("debits", "credits", "balance", "debit_balance", "credit_balance"),
               ("as_of_date", "currency", "account")),
    ReportSpec("balance_sheet", "Balance sheet", ("debits", "credits", "balance"),
               ("as_of_date", "currency", "section", "category"), chart="balances_by_category"),
    ReportSpec("income_statement", "Income statement", ("debits", "credits", "amount"),
               ("period", "currency", "section", "category")),
    ReportSpec("revenue_by_plan", "Revenue by plan", ("credits", "debits", "revenue"),
               ("period", "currency", "plan_id"), chart="revenue_by_plan"),
    ReportSpec("mrr_movements", "MRR movements",
               ("opening_mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
                "closing_mrr"),
               ("period", "currency"), chart="mrr"),
    ReportSpec("ar_aging", "Accounts receivable aging",
               ("current_amount", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "total_open",
                "unapplied_credits", "receivable_balance"),
               ("as_of_date", "currency", "customer_id")),
    ReportSpec("credit_liability_rollforward", "Customer credit liability roll-forward",
               ("opening_balance", "granted", "applied", "other_movements", "closing_balance"),
               ("period", "currency")),
    ReportSpec("cash_position", "Cash: settled, in transit, payments",
               ("cash_settled", "cash_in_transit", "total_cash", "payments_pending", "payments_initiated_amount",
                "payments_settled_amount", "payments_failed_amount", "paid_out_of_transit", "refunds_amount"),
               ("period", "currency")),
    ReportSpec("failed_payments", "Failed payments", ("amount",), ("failed_date", "currency", "payment_id")),
    ReportSpec("subscription_statement", "Subscription statements", ("debit", "credit", "signed_amount", "balance_after"),
               ("subscription_id", "account", "currency", "line_no")),
    ReportSpec("trial_balance_totals", "Trial balance totals",
               ("debits", "credits", "debit_balances", "credit_balances", "difference"), ("as_of_date", "currency")),
    ReportSpec("balance_sheet_statement", "Balance sheet statement",
               ("balance", "prior_period_balance", "start_of_year_balance"), ("as_of_date", "currency", "line_no")),
    ReportSpec("profit_and_loss_statement", "Income statement (profit and loss)",
               ("current_period", "prior_period", "year_to_date"), ("as_of_date", "currency", "line_no")),
    ReportSpec("cash_flow_statement", "Cash-flow statement",
               ("current_period", "prior_period", "year_to_date"), ("as_of_date", "currency", "line_no")),
    ReportSpec("general_ledger", "General ledger", ("debit", "credit", "balance"), ("account", "currency", "line_no")),
]

REPORTS: dict[str, ReportSpec] = {spec.name: spec for spec in _REPORTS}


# Column captions that are not just the words of the column name.
_CAPTIONS = {
    "as_of_date": "As of", "is_month_end": "Month end", "prior_as_of_date": "Prior period as of",
    "year_opening_date": "Start of year as of", "current_amount": "Current", "days_1_30": "1-30 days",
    "days_31_60": "31-60 days", "days_61_90": "61-90 days", "days_over_90": "Over 90 days", "line_no": "Line",
}
_WORDS = {"mrr": "MRR", "id": "ID", "ar": "AR"}


def column_title(name: str) -> str:
    """A column name as a person reads it: ``closing_mrr -> 'Closing MRR'``, ``as_of_date -> 'As of'``."""
    if name in _CAPTIONS:
        return _CAPTIONS[name]
    words = [_WORDS.get(word, word) for word in name.split("_") if word]
    if not words:
        return name
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def report(name: str) -> ReportSpec:
    """The spec of report ``name``; the error lists the known reports."""
    try:
        return REPORTS[name]
    except KeyError:
        raise KeyError(f"unknown report {name!r}; the reports are: {', '.join(REPORTS)}.") from None
