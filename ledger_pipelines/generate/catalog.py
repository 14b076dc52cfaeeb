"""The sample business: currencies, plans, prices and usage metrics (all money in minor units)."""

from __future__ import annotations

# currency, ISO minor units, share of subscriptions, customer regions (chosen at random per subscription)
CURRENCIES: tuple[tuple[str, int, float, tuple[str, ...]], ...] = (
    ("USD", 2, 0.52, ("us", "ca")),
    ("EUR", 2, 0.26, ("de", "fr", "nl")),
    ("JPY", 0, 0.12, ("jp",)),
    ("GBP", 2, 0.07, ("uk",)),
    ("KWD", 3, 0.03, ("kw",)),
)

PLANS: tuple[str, ...] = ("basic", "pro", "enterprise")
PLAN_SHARE: tuple[float, ...] = (0.5, 0.35, 0.15)
# monthly price per plan (rows) and currency (columns, in CURRENCIES order), minor units
PRICES: tuple[tuple[int, ...], ...] = (
    (900, 800, 1_000, 700, 3_000),  # basic: 9.00 USD, 8.00 EUR, 1000 JPY, 7.00 GBP, 3.000 KWD
    (2_900, 2_600, 3_200, 2_300, 9_000),  # pro
    (9_900, 8_900, 11_000, 7_900, 30_000),  # enterprise
)
# usage records per subscription and month, by plan
USAGE_RATE: tuple[float, ...] = (4.0, 10.0, 18.0)

METRICS: tuple[str, ...] = ("api_calls", "storage_gb", "seats")
# (low, high) quantity per record, by metric: thousands of API calls, GB stored, extra seats
QUANTITY_RANGE: tuple[tuple[int, int], ...] = ((1, 20), (1, 20), (1, 3))
# unit price per metric (rows) and currency (columns), minor units: usage adds about a third to the
# subscription fees, as in a seat- or consumption-priced SaaS business
UNIT_AMOUNTS: tuple[tuple[int, ...], ...] = (
    (5, 5, 8, 4, 15),
    (10, 9, 15, 8, 30),
    (100, 90, 150, 80, 300),
)

CHANNELS: tuple[str, ...] = ("web", "sales", "partner")

# Collections: each invoice is collected with the usage of the month before it (usage is billed in
# arrears); a subscription that ends has its last usage collected in a final bill. A failed
# payment is retried after 3 days, then a last time after 7 (which succeeds, except for defaulters).
PAYMENT_FAIL_RATE = 0.10
RETRY_FAIL_RATE = 0.20
RETRY_DAYS = (3, 7)
# Customers who pay weeks late (bank transfer, slow approval): (earliest, latest) days after the invoice.
LATE_PAYER_RATE = 0.08
LATE_PAYMENT_DAYS = (20, 75)
# Customers who stop paying: invoiced for DUNNING_MONTHS more months while dunned, then cut off; what
# they owe is written off as bad debt WRITE_OFF_DAYS after the first unpaid invoice.
DEFAULT_RATE = 0.02
DUNNING_MONTHS = 3
WRITE_OFF_DAYS = 100
REFUND_RATE = 0.01
CREDIT_RATE = 0.02
CREDIT_APPLY_RATE = 0.7
CORRECTION_RATE = 0.03
INVOICE_REVERSAL_RATE = 0.002
CHURN_RATE = 0.015
UPGRADE_RATE = 0.04
DOWNGRADE_RATE = 0.02
BACKDATED_INVOICE_RATE = 0.05
BACKDATED_USAGE_RATE = 0.03
NO_RECORDED_AT_RATE = 0.05
BAD_EVENT_RATE = 0.001
PAYOUT_FEE_PER_MILLE = 29
PROVIDER = "acmepay"
