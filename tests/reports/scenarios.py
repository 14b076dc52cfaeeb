"""Ledgers for the report tests: a hand-made one with known answers and a generated one.

The hand-made ledger (UTC) spans November 2023 to 12 March 2024 in USD, JPY and KWD; the
answers worked out by hand are asserted in ``test_reports_hand_made.py``. The generated ledger
is random but deterministic per seed and exercises every event type, in a non-UTC time zone.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tests.reports.ledger_fixture import LedgerBuilder


def hand_made() -> LedgerBuilder:
    b = LedgerBuilder("UTC")
    # cust_1/sub_e: one unpaid invoice from November (ages into 90+), MRR 700 in November only
    b.invoice("sub_e", "cust_1", "inv_e1", "basic", 700, "USD", "2023-11-20T10:00:00+00:00", "2023-11-20", "2023-12-20")
    # cust_1/sub_a: monthly basic (10.00), upgraded to pro_monthly (25.00) in March
    b.invoice("sub_a", "cust_1", "inv_a1", "basic", 1000, "USD", "2024-01-01T09:00:00+00:00", "2024-01-01", "2024-02-01")
    b.payment("sub_a", "cust_1", "pay_a1", "inv_a1", 1000, "USD", "2024-01-05T09:00:00+00:00")
    b.settle("pay:pay_a1", "2024-01-07T09:00:00+00:00")
    # cust_2/sub_b: annual pro plan, 1,200.00 a year = MRR 100.00; part paid by a credit
    b.invoice("sub_b", "cust_2", "inv_b1", "pro", 120000, "USD", "2024-01-10T09:00:00+00:00", "2024-01-10", "2025-01-10")
    b.credit_granted("sub_b", "cust_2", "cr_b1", 5000, "USD", "2024-01-15T09:00:00+00:00")
    b.credit_applied("sub_b", "cust_2", "cr_b1", "inv_b1", 3000, "USD", "2024-01-20T09:00:00+00:00")
    b.invoice("sub_a", "cust_1", "inv_a2", "basic", 1000, "USD", "2024-02-01T09:00:00+00:00", "2024-02-01", "2024-03-01")
    b.payment("sub_a", "cust_1", "pay_a2", "inv_a2", 1000, "USD", "2024-02-03T09:00:00+00:00", metadata={"region": "eu"})
    b.fail("pay:pay_a2", "2024-02-05T09:00:00+00:00", reason="card_declined")
    b.usage("sub_a", "cust_1", "u_1", "api_calls", 3, 150, "USD", "2024-02-10T09:00:00+00:00")
    b.payment("sub_b", "cust_2", "pay_b1", "inv_b1", 117000, "USD", "2024-02-12T09:00:00+00:00")
    b.settle("pay:pay_b1", "2024-02-14T09:00:00+00:00")
    b.payout("po_1", 118000, "USD", "2024-02-20T09:00:00+00:00")
    b.refund("sub_a", "cust_1", "ref_1", "pay_a1", 500, "USD", "2024-02-25T09:00:00+00:00")
    b.invoice("sub_a", "cust_1", "inv_a3", "pro_monthly", 2500, "USD", "2024-03-01T09:00:00+00:00", "2024-03-01", "2024-04-01")
    # usage correction: the original is reversed and the corrected quantity posted
    b.reverse("usage:u_1", "usage:u_1:reversal", "2024-03-05T10:00:00+00:00")
    b.usage("sub_a", "cust_1", "u_1", "api_calls", 2, 150, "USD", "2024-03-05T10:01:00+00:00", key="usage:u_1:corrected")
    b.payment("sub_a", "cust_1", "pay_a3", "inv_a2", 1000, "USD", "2024-03-10T09:00:00+00:00")
    b.settle("pay:pay_a3", "2024-03-12T09:00:00+00:00")
    b.usage("sub_b", "cust_2", "u_2", "seats", 1, 200, "USD", "2024-03-12T08:00:00+00:00")
    # cust_3/sub_c: JPY (no decimals), two monthly invoices, then nothing (churn in March)
    b.invoice("sub_c", "cust_3", "inv_c1", "basic_jp", 1500, "JPY", "2024-01-03T00:00:00+00:00", "2024-01-03", "2024-02-03")
    b.payment("sub_c", "cust_3", "pay_c1", "inv_c1", 1500, "JPY", "2024-01-04T00:00:00+00:00")
    b.settle("pay:pay_c1", "2024-01-06T00:00:00+00:00")
    b.invoice("sub_c", "cust_3", "inv_c2", "basic_jp", 1500, "JPY", "2024-02-03T00:00:00+00:00", "2024-02-03", "2024-03-03")
    # cust_4/sub_d: KWD (3 decimals), one invoice, a payment still pending on the report date
    b.invoice("sub_d", "cust_4", "inv_d1", "gold", 12345, "KWD", "2024-02-15T00:00:00+00:00", "2024-02-15", "2024-03-15")
    b.payment("sub_d", "cust_4", "pay_d1", "inv_d1", 12345, "KWD", "2024-03-10T00:00:00+00:00")
    return b


PLANS = {"starter": 900, "basic": 1900, "pro": 4900, "team": 9900}
CURRENCIES = ["USD", "USD", "USD", "EUR", "JPY", "KWD"]
SCALE = {"USD": 1, "EUR": 1, "JPY": 1, "KWD": 10}


def generated(seed: int = 7, subscriptions: int = 40, months: int = 7, timezone: str = "America/New_York") -> LedgerBuilder:
    """A random subscription business: monthly and annual plans, upgrades, downgrades, churn,
    reactivation, usage and corrections, credits, payments that settle late or fail, payouts,
    refunds and overpayments. Times are spread over the day so that some events fall on another
    day in the reporting time zone than in UTC."""
    rng = random.Random(seed)
    tz = ZoneInfo(timezone)
    b = LedgerBuilder(timezone)
    start = date(2023, 9, 1)
    pending_payouts: dict[str, int] = {}
    counter = 0

    def at(day: date) -> str:
        moment = datetime.combine(day, time(rng.randrange(24), rng.randrange(60)), tz)
        return moment.isoformat()

    def next_id(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}{counter}"

    for n in range(subscriptions):
        sub, cust = f"sub_{n}", f"cust_{n // 2}"  # customers hold up to two subscriptions
        currency = rng.choice(CURRENCIES)
        plan = rng.choice(list(PLANS))
        annual = rng.random() < 0.15
        day = start + timedelta(days=rng.randrange(0, 60))
        end = start + timedelta(days=months * 31)
        paused = False
        while day < end:
            if rng.random() < 0.08:  # churn, perhaps to come back later
                day += timedelta(days=rng.choice([40, 70, 400]))
                paused = True
                continue
            if rng.random() < 0.15:
                plan = rng.choice(list(PLANS))
            amount = PLANS[plan] * SCALE[currency] * (12 if annual else 1)
            length = 365 if annual else 30
            invoice_id = next_id("inv_")
            key = b.invoice(sub, cust, invoice_id, plan, amount, currency, at(day), day.isoformat(),
                            (day + timedelta(days=length)).isoformat()).key
            if rng.random() < 0.05:  # voided
                b.reverse(key, key + ":void", at(day + timedelta(days=rng.randrange(1, 40))))
            if rng.random() < 0.2:
                credit_id = next_id("cr_")
                granted = rng.randrange(100, 1000) * SCALE[currency]
                b.credit_granted(sub, cust, credit_id, granted, currency, at(day + timedelta(days=1)))
                if rng.random() < 0.7:
                    b.credit_applied(sub, cust, credit_id, invoice_id, rng.randrange(1, granted + 1), currency,
                                     at(day + timedelta(days=2)))
            if rng.random() < 0.4:
                usage_id = next_id("u_")
                usage_key = b.usage(sub, cust, usage_id, rng.choice(["api_calls", "seats"]), rng.randrange(1, 9),
                                    rng.randrange(10, 200), currency, at(day + timedelta(days=rng.randrange(1, 25)))).key
                if rng.random() < 0.3:
                    b.reverse(usage_key, usage_key + ":reversal", at(day + timedelta(days=26)))
            roll = rng.random()
            if roll < 0.85:  # pay (sometimes more than owed), settle late or fail
                payment_id = next_id("pay_")
                paid = amount + (rng.randrange(1, 500) if rng.random() < 0.05 else 0)
                pay_day = day + timedelta(days=rng.randrange(0, 45))
                pay_key = b.payment(sub, cust, payment_id, invoice_id, paid, currency, at(pay_day)).key
                outcome = rng.random()
                if outcome < 0.75:
                    b.settle(pay_key, at(pay_day + timedelta(days=rng.randrange(0, 5))))
                    pending_payouts[currency] = pending_payouts.get(currency, 0) + paid
                    if rng.random() < 0.05:
                        b.refund(sub, cust, next_id("ref_"), payment_id, max(1, paid // 2), currency,
                                 at(pay_day + timedelta(days=10)))
                elif outcome < 0.9:
                    b.fail(pay_key, at(pay_day + timedelta(days=rng.randrange(0, 4))), reason=rng.choice(["card_declined", "expired"]))
                # else: still pending
            day += timedelta(days=length)
            paused = False
        del paused
    # weekly payouts of whatever settled by then (simplified: a few round sums)
    for week in range(0, months * 31, 14):
        for currency, owed in sorted(pending_payouts.items()):
            if owed > 0 and rng.random() < 0.5:
                part = owed // 3
                if part:
                    b.payout(next_id("po_"), part, currency, at(start + timedelta(days=week + 40)))
                    pending_payouts[currency] -= part
    return b
