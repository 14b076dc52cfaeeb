"""The reports' numbers computed independently, in plain Python, from the builder's transactions.

Nothing here reads the warehouse or shares SQL with the dbt project: balances come straight from
the balance definitions (an entry counts in posted balances from the later of its effective day
and its transaction's posting day), MRR from the invoices, AR aging from a FIFO allocation
written as a loop. The tests compare these with the dbt reports row by row.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from tests.reports.ledger_fixture import LedgerBuilder, normal_balance, prefixes

INCOME_SEGMENTS = {"revenue", "income", "expenses"}


def month_end(day: date) -> date:
    nxt = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, n: int) -> date:
    index = day.year * 12 + day.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def period(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@dataclass(frozen=True)
class Entry:
    transaction_id: str
    entry_no: int
    account: str
    direction: str
    amount: int
    currency: str
    effective_date: date
    posting_date: date | None  # None: never posted (pending or archived)
    event_type: str
    status: str
    effective_key: str  # effective_at as sortable text

    @property
    def signed(self) -> int:
        return self.amount if self.direction == normal_balance(self.account) else -self.amount


class Ledger:
    """Views of a builder's transactions that the expectations need."""

    def __init__(self, b: LedgerBuilder) -> None:
        self.b = b
        self.entries: list[Entry] = []
        for txn in b.txns.values():
            eff = b.local_date(txn.effective_at)
            posting = max(eff, b.local_date(txn.posted_at)) if txn.status == "posted" else None
            for no, leg in enumerate(txn.legs):
                self.entries.append(Entry(txn.transaction_id, no, leg.account, leg.direction, leg.amount, leg.currency,
                                          eff, posting, txn.event_type, txn.status,
                                          txn.effective_at.astimezone(UTC).isoformat()))

    # -- report dates ------------------------------------------------------------------------------
    def moved_days(self) -> list[date]:
        days = set()
        for txn in self.b.txns.values():
            eff = self.b.local_date(txn.effective_at)
            days.add(eff)
            for moment in (txn.posted_at, txn.archived_at):
                if moment is not None:
                    days.add(max(eff, self.b.local_date(moment)))
        return sorted(days)

    def report_dates(self) -> list[tuple[str, date]]:
        """(period, as_of_date): month ends from the first moved day's month, and the last moved day."""
        days = self.moved_days()
        if not days:
            return []
        first, last = days[0], days[-1]
        out, cursor = [], month_start(first)
        while cursor <= last:
            out.append((period(cursor), min(month_end(cursor), last)))
            cursor = add_months(cursor, 1)
        return out

    # -- balances ----------------------------------------------------------------------------------
    def posted_sums(self, day: date) -> dict[tuple[str, str], tuple[int, int]]:
        sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for e in self.entries:
            if e.posting_date is not None and e.posting_date <= day:
                sums[(e.account, e.currency)][0 if e.direction == "debit" else 1] += e.amount
        return {k: (v[0], v[1]) for k, v in sums.items()}

    def pending_sums(self, day: date) -> dict[tuple[str, str], tuple[int, int]]:
        """Debits/credits of entries counted as pending at the end of ``day``."""
        sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for txn in self.b.txns.values():
            eff = self.b.local_date(txn.effective_at)
            if eff > day:
                continue
            posted = txn.status == "posted" and self.b.local_date(txn.posted_at) <= day
            gone = txn.status == "archived" and self.b.local_date(txn.archived_at) <= day
            if posted or gone:
                continue
            for leg in txn.legs:
                sums[(leg.account, leg.currency)][0 if leg.direction == "debit" else 1] += leg.amount
        return {k: (v[0], v[1]) for k, v in sums.items()}


def balance(account: str, debits: int, credits: int) -> int:
    return debits - credits if normal_balance(account) == "debit" else credits - debits


# -- trial balance, statements ----------------------------------------------------------------------
def trial_balance(ledger: Ledger) -> dict[tuple[date, str, str], tuple[int, int, int]]:
    out = {}
    for _, as_of in ledger.report_dates():
        for (account, currency), (d, c) in ledger.posted_sums(as_of).items():
            out[(as_of, account, currency)] = (d, c, balance(account, d, c))
    return out


def category_sums(ledger: Ledger, day: date, depth: int) -> dict[tuple[str, str], tuple[int, int]]:
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for (account, currency), (d, c) in ledger.posted_sums(day).items():
        for category in prefixes(account)[:depth]:
            sums[(category, currency)][0] += d
            sums[(category, currency)][1] += c
    return {k: (v[0], v[1]) for k, v in sums.items()}


def balance_sheet(ledger: Ledger, depth: int = 2) -> dict[tuple[date, str, str], int]:
    """(as_of, category, currency) -> balance, with current_earnings; zero lines left out."""
    out = {}
    for _, as_of in ledger.report_dates():
        earnings: dict[str, int] = defaultdict(int)
        for (category, currency), (d, c) in category_sums(ledger, as_of, depth).items():
            top = category.split(":")[0]
            if top in INCOME_SEGMENTS:
                if ":" not in category:
                    earnings[currency] += c - d
            elif balance(category, d, c):
                out[(as_of, category, currency)] = balance(category, d, c)
        for currency, value in earnings.items():
            if value:
                out[(as_of, "current_earnings", currency)] = value
    return out


def income_statement(ledger: Ledger, depth: int = 2) -> dict[tuple[str, str, str], int]:
    """(period, category, currency) -> the period's activity signed by normal balance, with net_income."""
    out: dict[tuple[str, str, str], int] = {}
    previous: dict[tuple[str, str], tuple[int, int]] = {}
    for p, as_of in ledger.report_dates():
        now = category_sums(ledger, as_of, depth)
        net: dict[str, int] = defaultdict(int)
        for (category, currency), (d, c) in now.items():
            if category.split(":")[0] not in INCOME_SEGMENTS:
                continue
            pd, pc = previous.get((category, currency), (0, 0))
            amount = balance(category, d - pd, c - pc)
            if amount:
                out[(p, category, currency)] = amount
            if ":" not in category:
                net[currency] += (c - pc) - (d - pd)
        for currency, value in net.items():
            if value:
                out[(p, "net_income", currency)] = value
        previous = now
    return out


def revenue_by_plan(ledger: Ledger) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    bounds = ledger.report_dates()
    for e in ledger.entries:
        if e.posting_date is None or not e.account.startswith("revenue:subscriptions:"):
            continue
        p = period_of_day(bounds, e.posting_date)
        if p:
            out[(p, e.account.split(":")[2], e.currency)] += e.signed
    return {k: v for k, v in out.items() if v}


def period_of_day(bounds: list[tuple[str, date]], day: date) -> str | None:
    """The first report period whose as_of_date is on or after ``day``."""
    for p, as_of in bounds:
        if day <= as_of:
            return p
    return None


# -- MRR --------------------------------------------------------------------------------------------
def service_months(start: date | None, end: date | None) -> int:
    if start is None or end is None or end <= start:
        return 1
    exact = Decimal((end - start).days) / Decimal("30.436875")
    return max(1, int(exact.quantize(Decimal(1), rounding="ROUND_HALF_UP")))


def subscription_mrr(ledger: Ledger) -> dict[tuple[str, str, date], int]:
    return _subscription_mrr(ledger)[0]


def _subscription_mrr(ledger: Ledger) -> tuple[dict[tuple[str, str, date], int], set[tuple[str, str, date]]]:
    """(MRR per subscription, currency and month; the keys kept in a month to date awaiting renewal)."""
    b = ledger.b
    bounds = ledger.report_dates()
    if not bounds:
        return {}, set()
    last_start = month_start(bounds[-1][1])
    reversed_on = {t.reverses: b.local_date(t.effective_at) for t in b.txns.values() if t.reverses and t.status == "posted"}
    mrr: dict[tuple[str, str, date], int] = defaultdict(int)
    covered_until: dict[tuple[str, str, date], date] = {}  # latest service end of the month's unreversed invoices
    for key, t in b.txns.items():
        if t.event_type != "invoice.issued" or t.status != "posted":
            continue
        amount = sum(leg.amount for leg in t.legs if leg.direction == "debit")
        currency = t.legs[0].currency
        end = date.fromisoformat(t.payload["period_end"])
        months = service_months(date.fromisoformat(t.payload["period_start"]), end)
        monthly = math.floor(Decimal(amount) / months + Decimal("0.5"))
        first = month_start(b.local_date(t.effective_at))
        stop = month_start(reversed_on[key]) if key in reversed_on else None
        for i in range(months):
            m = add_months(first, i)
            if (stop is None or m < stop) and m <= last_start:
                mrr[(t.subscription_id, currency, m)] += monthly
                if stop is None or stop > last_start:
                    k = (t.subscription_id, currency, m)
                    covered_until[k] = max(covered_until.get(k, end), end)
    mrr = {k: v for k, v in mrr.items() if v > 0}
    # a month to date: a subscription whose service period still runs keeps its MRR until its renewal is due
    last_day, pending = bounds[-1][1], set()
    if last_day < month_end(last_day):
        previous = add_months(last_start, -1)
        for (sub, currency, m), value in list(mrr.items()):
            if m == previous and (sub, currency, last_start) not in mrr \
                    and covered_until.get((sub, currency, m), date.min) >= last_day:
                mrr[(sub, currency, last_start)] = value
                pending.add((sub, currency, last_start))
    return mrr, pending


MRR_COLUMNS = ("opening_mrr", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr",
               "closing_mrr", "active_subscriptions", "new_subscriptions", "churned_subscriptions",
               "reactivated_subscriptions", "renewal_pending_mrr", "renewal_pending_subscriptions")


def mrr_movements(ledger: Ledger) -> dict[tuple[str, str], dict[str, int]]:
    """(period, currency) -> movement columns, walking each subscription month by month."""
    mrr, pending = _subscription_mrr(ledger)
    bounds = ledger.report_dates()
    if not mrr:
        return {}
    last_start = month_start(bounds[-1][1])
    first_by_currency: dict[str, date] = {}
    for (_, currency, m) in mrr:
        first_by_currency[currency] = min(first_by_currency.get(currency, m), m)
    out: dict[tuple[str, str], dict[str, int]] = {}
    subs_by_currency = defaultdict(set)
    for (sub, currency, _) in mrr:
        subs_by_currency[currency].add(sub)
    for currency, first in first_by_currency.items():
        m, opening = first, 0
        while m <= last_start:
            row = dict.fromkeys(MRR_COLUMNS, 0)
            row["opening_mrr"] = opening
            for sub in subs_by_currency[currency]:
                now = mrr.get((sub, currency, m), 0)
                before = mrr.get((sub, currency, add_months(m, -1)), 0)
                ever = any(mm < add_months(m, -1) and v for (s, c, mm), v in mrr.items() if s == sub and c == currency)
                if now and not before:
                    if ever:
                        row["reactivation_mrr"] += now
                        row["reactivated_subscriptions"] += 1
                    else:
                        row["new_mrr"] += now
                        row["new_subscriptions"] += 1
                elif now and before:
                    if now > before:
                        row["expansion_mrr"] += now - before
                    else:
                        row["contraction_mrr"] += now - before
                elif before and not now:
                    row["churned_mrr"] -= before
                    row["churned_subscriptions"] += 1
                row["closing_mrr"] += now
                if (sub, currency, m) in pending:
                    row["renewal_pending_mrr"] += now
                    row["renewal_pending_subscriptions"] += 1
                row["active_subscriptions"] += 1 if now else 0
            out[(period(m), currency)] = row
            opening = row["closing_mrr"]
            m = add_months(m, 1)
    return out


# -- AR aging ----------------------------------------------------------------------------------------
def customers(ledger: Ledger) -> dict[str, str]:
    latest: dict[str, tuple[str, str, str]] = {}
    for t in ledger.b.txns.values():
        if t.subscription_id and t.customer_id:
            key = (t.effective_at.isoformat(), t.transaction_id)
            if t.subscription_id not in latest or key > latest[t.subscription_id][:2]:
                latest[t.subscription_id] = (*key, t.customer_id)
    return {sub: v[2] for sub, v in latest.items()}


BUCKETS = ("current_amount", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


def bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current_amount"
    if days_past_due <= 30:
        return "days_1_30"
    if days_past_due <= 60:
        return "days_31_60"
    if days_past_due <= 90:
        return "days_61_90"
    return "days_over_90"


def ar_aging(ledger: Ledger, terms_days: int = 0) -> dict[tuple[date, str, str], dict[str, int]]:
    """(as_of, customer, currency) -> buckets, total_open, unapplied_credits, receivable_balance."""
    owner = customers(ledger)
    receivables = [e for e in ledger.entries if e.account.startswith("assets:receivables:") and e.posting_date]
    out: dict[tuple[date, str, str], dict[str, int]] = {}
    for _, as_of in ledger.report_dates():
        by_account: dict[tuple[str, str], list[Entry]] = defaultdict(list)
        for e in receivables:
            if e.posting_date <= as_of:
                by_account[(e.account, e.currency)].append(e)
        for (account, currency), entries in by_account.items():
            customer = owner.get(account.split(":", 2)[2], "(unknown)")
            credit = sum(e.amount for e in entries if e.direction == "credit")
            debits = sorted((e for e in entries if e.direction == "debit"),
                            key=lambda e: (e.posting_date, e.effective_key, e.transaction_id, e.entry_no))
            row = out.setdefault((as_of, customer, currency),
                                 dict.fromkeys((*BUCKETS, "total_open", "unapplied_credits", "receivable_balance"), 0))
            remaining = credit
            for d in debits:  # FIFO: the oldest debit is settled first
                applied = min(remaining, d.amount)
                remaining -= applied
                open_amount = d.amount - applied
                if open_amount:
                    row[bucket((as_of - d.effective_date).days - terms_days)] += open_amount
                    row["total_open"] += open_amount
            row["unapplied_credits"] += remaining
            row["receivable_balance"] += sum(e.amount for e in debits) - credit
    return {k: v for k, v in out.items() if v["total_open"] or v["receivable_balance"] or v["unapplied_credits"]}


# -- credits, cash, failed payments, statements -------------------------------------------------------
def credit_rollforward(ledger: Ledger) -> dict[tuple[str, str], dict[str, int]]:
    credits = [e for e in ledger.entries if e.account.startswith("liabilities:customer_credits:")]
    out = {}
    previous: dict[str, int] = defaultdict(int)
    first_day = {e.currency: e.effective_date for e in sorted(credits, key=lambda e: e.effective_date, reverse=True)}
    prior = None
    for p, as_of in ledger.report_dates():
        for currency, first in first_day.items():
            if first > as_of:
                continue
            row = {"opening_balance": previous[currency], "granted": 0, "applied": 0, "other_movements": 0}
            for e in credits:
                if e.currency != currency or e.posting_date is None or e.posting_date > as_of:
                    continue
                if prior is not None and e.posting_date <= prior:
                    continue
                if e.event_type == "credit.granted":
                    row["granted"] += e.signed
                elif e.event_type == "credit.applied":
                    row["applied"] -= e.signed
                else:
                    row["other_movements"] += e.signed
            row["closing_balance"] = sum(e.signed for e in credits if e.currency == currency
                                         and e.posting_date is not None and e.posting_date <= as_of)
            previous[currency] = row["closing_balance"]
            out[(p, currency)] = row
        prior = as_of
    return out


def cash_position(ledger: Ledger) -> dict[tuple[str, str], dict[str, int]]:
    out = {}
    bounds = ledger.report_dates()
    payments = [t for t in ledger.b.txns.values() if t.event_type == "payment.initiated"]
    local = ledger.b.local_date
    for p, as_of in bounds:
        posted, pending = ledger.posted_sums(as_of), ledger.pending_sums(as_of)
        currencies = {c for (a, c) in posted if a.startswith("assets:cash")} | {c for (a, c) in pending if a.startswith("assets:cash")}
        for currency in currencies:
            def bal(pred, sums=posted, currency=currency):
                return sum(balance(a, d, c) for (a, cur), (d, c) in sums.items() if cur == currency and pred(a))

            def in_transit(a):
                return a == "assets:cash:in_transit"

            row = {
                "cash_settled": bal(lambda a: (a == "assets:cash" or a.startswith("assets:cash:")) and not in_transit(a)),
                "cash_in_transit": bal(in_transit),
                "payments_pending": sum(d - c for (a, cur), (d, c) in pending.items() if cur == currency and in_transit(a)),
            }
            row["total_cash"] = row["cash_settled"] + row["cash_in_transit"]
            for kind, day_of, ok in (("initiated", lambda t: local(t.effective_at), lambda t: True),
                                     ("settled", lambda t: local(t.posted_at), lambda t: t.status == "posted"),
                                     ("failed", lambda t: local(t.archived_at), lambda t: t.status == "archived")):
                chosen = [t for t in payments if t.legs[0].currency == currency and ok(t) and period_of_day(bounds, day_of(t)) == p]
                row[f"payments_{kind}"] = len(chosen)
                row[f"payments_{kind}_amount"] = sum(t.legs[0].amount for t in chosen)
            out[(p, currency)] = row
    return out


def failed_payments(ledger: Ledger) -> dict[str, tuple[str, int, str, date, str | None]]:
    bounds = ledger.report_dates()
    out = {}
    for t in ledger.b.txns.values():
        if t.event_type == "payment.initiated" and t.status == "archived":
            day = ledger.b.local_date(t.archived_at)
            p = period_of_day(bounds, day)
            if p:
                out[t.payload["payment_id"]] = (p, t.legs[0].amount, t.legs[0].currency, day, t.metadata.get("failure_reason"))
    return out


def statements(ledger: Ledger) -> dict[tuple[str, str], list[tuple[str, int, int]]]:
    """(account, currency) -> [(transaction_id, entry_no, balance_after)] in booking order."""
    bounds = ledger.report_dates()
    last = bounds[-1][1] if bounds else None
    txns = {t.transaction_id: t for t in ledger.b.txns.values()}
    lines = defaultdict(list)
    for e in ledger.entries:
        if e.posting_date and last and e.posting_date <= last and (
                e.account.startswith("assets:receivables:") or e.account.startswith("liabilities:customer_credits:")):
            t = txns[e.transaction_id]
            booked = max(t.effective_at, t.posted_at)
            lines[(e.account, e.currency)].append((booked, t.effective_at, e.transaction_id, e.entry_no, e.signed))
    out = {}
    for key, items in lines.items():
        running, rows = 0, []
        for _, _, tid, no, signed in sorted(items):
            running += signed
            rows.append((tid, no, running))
        out[key] = rows
    return out


def major_units(amount: int, decimals: int) -> Decimal:
    """Exact major units (for checking exports), e.g. 12345 KWD -> Decimal('12.345')."""
    return (Decimal(amount).scaleb(-decimals)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)
