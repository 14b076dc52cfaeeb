"""PNG charts of the report time series (MRR, revenue by plan, balances by category).

Rendered with matplotlib's Agg backend (no display needed) and returned as bytes, which the
Dagster layer attaches to the asset's metadata (e.g. as a base64 image in markdown) or writes with
:func:`save_chart`. One panel per currency: amounts in different currencies never share an axis.
Amounts are converted to major units as floats only to place points on a chart; every number
finance reads comes from the exports, which are exact.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from ledger_pipelines.accounting.money import decimals
from ledger_pipelines.reports.catalog import report
from ledger_pipelines.reports.exports import write_atomic


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, imported on first use (it takes seconds to import, and
    the Dagster definitions that import this module should load fast)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_value(amount: int, currency: str) -> float:
    return amount / 10 ** decimals(currency)


def _period_label(period: str, is_month_end: bool) -> str:
    """An x-axis label: a month still running is marked month to date, so its smaller bars are not
    read as a fall."""
    return period if is_month_end else f"{period} (MTD)"


def _figure(currencies: list[str], title: str):
    fig, axes = _pyplot().subplots(len(currencies), 1, figsize=(9, 3.2 * len(currencies)), squeeze=False)
    fig.suptitle(title)
    return fig, [a[0] for a in axes]


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    _pyplot().close(fig)
    return buffer.getvalue()


def mrr_chart(con: duckdb.DuckDBPyConnection) -> bytes | None:
    """Per currency: MRR movements as bars (growth up, churn and contraction down) and closing MRR as a line."""
    rows = con.execute(
        "SELECT currency, period, new_mrr, expansion_mrr, reactivation_mrr, contraction_mrr, churned_mrr, closing_mrr, "
        "is_month_end FROM reports.mrr_movements ORDER BY currency, period").fetchall()
    if not rows:
        return None
    series = defaultdict(list)
    for row in rows:
        series[row[0]].append(row[1:])
    fig, axes = _figure(sorted(series), "MRR and its movements")
    labels = ["new", "expansion", "reactivation", "contraction", "churn"]
    for ax, currency in zip(axes, sorted(series), strict=True):
        data = series[currency]
        x = list(range(len(data)))
        up = [0.0] * len(data)
        down = [0.0] * len(data)
        for i, label in enumerate(labels):
            values = [_plot_value(r[1 + i], currency) for r in data]
            base = up if i < 3 else down
            ax.bar(x, values, bottom=base, label=label, width=0.6)
            for j, v in enumerate(values):
                base[j] += v
        ax.plot(x, [_plot_value(r[6], currency) for r in data], color="black", marker="o", label="MRR")
        ax.set_xticks(x, [_period_label(r[0], r[7]) for r in data], rotation=45, ha="right")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_ylabel(currency)
        ax.legend(fontsize="small", ncol=3)
    return _png(fig)


def revenue_by_plan_chart(con: duckdb.DuckDBPyConnection) -> bytes | None:
    """Per currency: the month's subscription revenue, stacked by plan."""
    rows = con.execute(
        "SELECT currency, period, plan_id, revenue, is_month_end FROM reports.revenue_by_plan "
        "ORDER BY currency, period, plan_id").fetchall()
    if not rows:
        return None
    by_currency: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    complete = {}
    for currency, period, plan, revenue, is_month_end in rows:
        by_currency[currency][plan][period] = revenue
        complete[period] = is_month_end
    fig, axes = _figure(sorted(by_currency), "Subscription revenue by plan")
    for ax, currency in zip(axes, sorted(by_currency), strict=True):
        plans = by_currency[currency]
        periods = sorted({p for values in plans.values() for p in values})
        x = list(range(len(periods)))
        bottom = [0.0] * len(periods)
        for plan in sorted(plans):
            values = [_plot_value(plans[plan].get(p, 0), currency) for p in periods]
            ax.bar(x, values, bottom=bottom, label=plan, width=0.6)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_xticks(x, [_period_label(p, complete[p]) for p in periods], rotation=45, ha="right")
        ax.set_ylabel(currency)
        ax.legend(fontsize="small", ncol=4)
    return _png(fig)


def balances_by_category_chart(con: duckdb.DuckDBPyConnection) -> bytes | None:
    """Per currency: the top-level balance-sheet lines (assets, liabilities, equity, current earnings) over time."""
    rows = con.execute(
        "SELECT currency, category, as_of_date, balance FROM reports.balance_sheet WHERE depth = 1 "
        "ORDER BY currency, category, as_of_date").fetchall()
    if not rows:
        return None
    by_currency: dict[str, dict[str, list[tuple]]] = defaultdict(lambda: defaultdict(list))
    for currency, category, as_of, value in rows:
        by_currency[currency][category].append((as_of, value))
    fig, axes = _figure(sorted(by_currency), "Balances by category (month ends and latest day)")
    for ax, currency in zip(axes, sorted(by_currency), strict=True):
        for category, points in sorted(by_currency[currency].items()):
            ax.plot([p[0] for p in points], [_plot_value(p[1], currency) for p in points], marker="o", label=category)
        ax.set_ylabel(currency)
        ax.legend(fontsize="small", ncol=4)
        ax.tick_params(axis="x", labelrotation=45)
    return _png(fig)


CHARTS: dict[str, Callable[[duckdb.DuckDBPyConnection], bytes | None]] = {
    "mrr": mrr_chart,
    "revenue_by_plan": revenue_by_plan_chart,
    "balances_by_category": balances_by_category_chart,
}


def chart_for(con: duckdb.DuckDBPyConnection, name: str) -> bytes | None:
    """The PNG of report ``name``'s chart; None if it has no chart or no rows yet."""
    spec = report(name)
    return CHARTS[spec.chart](con) if spec.chart else None


def save_chart(png: bytes, path: Path | str) -> Path:
    """Write a chart atomically (e.g. next to the exports)."""
    return write_atomic(Path(path), lambda handle: handle.write(png))


def png_markdown(png: bytes, alt: str = "chart") -> str:
    """Markdown embedding ``png`` inline (base64), e.g. for ``MetadataValue.md`` in Dagster."""
    import base64

    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
