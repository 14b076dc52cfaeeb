"""Typed event rows -> contract-shaped events: ids, RFC 3339 times, payload and metadata JSON.

All string building is Polars expressions over the whole frame (one ``when`` branch per event
type), so rendering a million events takes a few seconds.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ledger_pipelines.generate import catalog as C
from ledger_pipelines.generate.events import STYLE_DATE, STYLE_LOCAL
from ledger_pipelines.ingest.jsontext import json_string

ROW_SCHEMA: dict[str, pl.DataType] = {
    "position": pl.Float64,  # order inside the file (bad copies sit right after their source)
    "month": pl.Int64,  # which monthly file
    "event_id": pl.Utf8, "event_type": pl.Utf8, "effective_at": pl.Utf8, "recorded_at": pl.Utf8,
    "subscription_id": pl.Utf8, "customer_id": pl.Utf8, "amount": pl.Int64, "currency": pl.Utf8,
    "payload": pl.Utf8, "metadata": pl.Utf8, "line": pl.Utf8,
}


def _pad(expr: pl.Expr, width: int) -> pl.Expr:
    return expr.cast(pl.Utf8).str.zfill(width)


def _obj(*pairs: tuple[str, pl.Expr | None]) -> pl.Expr:
    """A JSON object from (key, JSON-text expression) pairs; null values are left out."""
    parts = [pl.when(value.is_not_null()).then(pl.lit(f'"{key}":') + value) for key, value in pairs if value is not None]
    return pl.lit("{") + pl.concat_str(parts, separator=",", ignore_nulls=True) + pl.lit("}")


def _timestamp(micros: pl.Expr, fmt: str, tz: str = "UTC") -> pl.Expr:
    return micros.cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(tz).dt.strftime(fmt)


def render(events: pl.DataFrame, subs: pl.DataFrame, *, seed: int, bounds: np.ndarray) -> pl.DataFrame:
    """One row per event in file order, with the JSON line and the CSV/Parquet column values."""
    months = len(bounds) - 1
    events = events.sort("rec", "uid").with_row_index("seq").with_columns(pl.col("seq").cast(pl.Int64))
    events = events.with_columns(event_id=pl.format("evt_{}_{}", pl.lit(seed), _pad(pl.col("seq"), 9)))
    ids = events.select(pl.col("uid").alias("target_uid"), pl.col("event_id").alias("target_event_id"))
    invoices = events.filter(pl.col("event_type") == "invoice.issued").select(
        pl.col("uid").alias("invoice_uid"),
        pl.format("inv_{}_{}", _pad(pl.col("sub"), 6), _timestamp(pl.col("eff"), "%Y%m")).alias("invoice_id"),
    )
    events = (
        events.join(ids, on="target_uid", how="left")
        .join(invoices, on="invoice_uid", how="left")
        .join(subs.select("sub", "channel", "region", "unsorted_metadata"), on="sub", how="left")
    )
    currency_codes = {i: c[0] for i, c in enumerate(C.CURRENCIES)}
    code = pl.col("cur").replace_strict(currency_codes, default=None, return_dtype=pl.Utf8)
    plan = pl.col("plan").replace_strict(dict(enumerate(C.PLANS)), default=None, return_dtype=pl.Utf8)
    metric = pl.col("metric").replace_strict(dict(enumerate(C.METRICS)), default=None, return_dtype=pl.Utf8)
    channel = pl.col("channel").replace_strict(dict(enumerate(C.CHANNELS)), default=None, return_dtype=pl.Utf8)
    s = json_string
    payment_id = pl.format("pay_{}_{}", pl.col("invoice_id").str.strip_prefix("inv_"), pl.col("payment_no"))
    integer = lambda name: pl.col(name).cast(pl.Utf8)  # noqa: E731
    def leg(account: str | pl.Expr, direction: str, amount: pl.Expr) -> pl.Expr:
        name = s(account) if isinstance(account, pl.Expr) else pl.lit(f'"{account}"')
        return pl.concat_str([pl.lit('{"account":'), name, pl.lit(f',"direction":"{direction}","amount":'), amount,
                              pl.lit(',"currency":'), s(code), pl.lit("}")])

    fee = pl.col("quantity")
    payout_legs = pl.concat_str([
        pl.lit("["), leg("assets:cash", "debit", (pl.col("amount") - fee).cast(pl.Utf8)),
        pl.when(fee > 0).then(pl.lit(",") + leg("expenses:payment_fees", "debit", fee.cast(pl.Utf8))).otherwise(pl.lit("")),
        pl.lit(","), leg("assets:cash:in_transit", "credit", integer("amount")), pl.lit("]"),
    ])
    accrual_legs = pl.concat_str([
        pl.lit("["), leg("expenses:hosting", "debit", integer("amount")), pl.lit(","),
        leg("liabilities:accrued_expenses", "credit", integer("amount")), pl.lit("]"),
    ])
    receivable = pl.format("assets:receivables:sub_{}", _pad(pl.col("sub"), 6))
    writeoff_legs = pl.concat_str([
        pl.lit("["), leg("expenses:bad_debt", "debit", integer("amount")), pl.lit(","),
        leg(receivable, "credit", integer("amount")), pl.lit("]"),
    ])
    t = pl.col("event_type")
    payload = (
        pl.when(t == "invoice.issued").then(_obj(
            ("invoice_id", s(pl.col("invoice_id"))), ("plan_id", s(plan)),
            ("period_start", s(_timestamp(pl.col("eff"), "%Y-%m-%d"))), ("period_end", s(_timestamp(pl.col("period_end"), "%Y-%m-%d")))))
        .when(t == "payment.initiated").then(_obj(("payment_id", s(payment_id)), ("invoice_id", s(pl.col("invoice_id")))))
        .when(t == "payment.settled").then(_obj(("payment_id", s(payment_id))))
        .when(t == "payment.failed").then(_obj(("payment_id", s(payment_id)), ("reason", s(pl.col("reason")))))
        .when(t == "refund.issued").then(_obj(("refund_id", s(pl.format("re_{}", _pad(pl.col("credit_no"), 8)))),
                                               ("payment_id", s(payment_id))))
        .when(t == "credit.granted").then(_obj(("credit_id", s(pl.format("cr_{}", _pad(pl.col("credit_no"), 8)))),
                                                ("reason", s(pl.col("reason")))))
        .when(t == "credit.applied").then(_obj(("credit_id", s(pl.format("cr_{}", _pad(pl.col("credit_no"), 8)))),
                                                ("invoice_id", s(pl.col("invoice_id")))))
        .when(t == "usage.recorded").then(_obj(
            ("usage_id", s(pl.format("use_{}", _pad(pl.col("usage_no"), 9)))), ("metric", s(metric)),
            ("quantity", integer("quantity")), ("unit_amount", integer("unit_amount"))))
        .when(t == "usage.corrected").then(_obj(
            ("usage_id", s(pl.format("use_{}", _pad(pl.col("usage_no"), 9)))), ("quantity", integer("quantity")),
            ("unit_amount", integer("unit_amount")), ("metric", s(metric))))
        .when(t == "transaction.reversed").then(_obj(("target_event_id", s(pl.col("target_event_id"))), ("reason", s(pl.col("reason")))))
        .when(t.is_in(["transaction.posted", "transaction.archived"])).then(_obj(("target_event_id", s(pl.col("target_event_id")))))
        .when(pl.col("journal_kind") == "payout").then(pl.concat_str([
            pl.lit('{"description":'), s(pl.format("Payout po_{}_{} from {}", _timestamp(pl.col("eff"), "%Y%m%d"), code, pl.lit(C.PROVIDER))),
            pl.lit(',"status":"posted","legs":'), payout_legs, pl.lit("}")]))
        .when(pl.col("journal_kind") == "accrual").then(pl.concat_str([
            pl.lit('{"description":"Month-end hosting accrual","status":"pending","legs":'), accrual_legs, pl.lit("}")]))
        .when(pl.col("journal_kind") == "writeoff").then(pl.concat_str([
            pl.lit('{"description":'), s(pl.format("Write-off of sub_{}: uncollectible after dunning", _pad(pl.col("sub"), 6))),
            pl.lit(',"status":"posted","legs":'), writeoff_legs, pl.lit("}")]))
    )
    subscription = pl.col("sub").is_not_null()
    metadata = (
        pl.when(subscription & pl.col("unsorted_metadata")).then(_obj(("region", s(pl.col("region"))), ("channel", s(channel))))
        .when(subscription).then(_obj(("channel", s(channel)), ("region", s(pl.col("region")))))
        .when(pl.col("journal_kind") == "payout").then(pl.lit(f'{{"provider":"{C.PROVIDER}"}}'))
        .when(pl.col("journal_kind") == "accrual").then(pl.lit('{"source":"manual"}'))
    )
    effective = (
        pl.when(pl.col("style") == STYLE_DATE).then(_timestamp(pl.col("eff"), "%Y-%m-%d"))
        .when(pl.col("style") == STYLE_LOCAL).then(_timestamp(pl.col("eff"), "%Y-%m-%dT%H:%M:%S%:z", "Europe/Berlin"))
        .otherwise(_timestamp(pl.col("eff"), "%Y-%m-%dT%H:%M:%SZ"))
    )
    has_amount = ~t.is_in(["journal.posted", "payment.settled", "payment.failed", "usage.recorded", "usage.corrected",
                           "transaction.reversed", "transaction.posted", "transaction.archived"])
    month = pl.Series(np.clip(np.searchsorted(bounds, events["rec"].to_numpy(), side="right") - 1, 0, max(months - 1, 0)))
    rows = events.select(
        pl.col("seq").cast(pl.Float64).alias("position"),
        month.alias("month"),
        "event_id", "event_type",
        effective.alias("effective_at"),
        pl.when(pl.col("rec_given")).then(_timestamp(pl.col("rec"), "%Y-%m-%dT%H:%M:%S.%3fZ")).alias("recorded_at"),
        pl.when(subscription).then(pl.format("sub_{}", _pad(pl.col("sub"), 6))).alias("subscription_id"),
        pl.when(subscription).then(pl.format("cus_{}", _pad(pl.col("sub"), 6))).alias("customer_id"),
        pl.when(has_amount).then(pl.col("amount")).alias("amount"),
        pl.when(subscription).then(code).alias("currency"),
        payload.alias("payload"),
        metadata.alias("metadata"),
    )
    return rows.with_columns(line=json_line()).select(list(ROW_SCHEMA))


def json_line() -> pl.Expr:
    """The JSON line of a row (fields in contract order, absent ones left out)."""
    s = json_string
    return _obj(
        ("event_id", s(pl.col("event_id"))), ("event_type", s(pl.col("event_type"))),
        ("effective_at", s(pl.col("effective_at"))), ("recorded_at", s(pl.col("recorded_at"))),
        ("subscription_id", s(pl.col("subscription_id"))), ("customer_id", s(pl.col("customer_id"))),
        ("amount", pl.col("amount").cast(pl.Utf8)), ("currency", s(pl.col("currency"))),
        ("payload", pl.col("payload")), ("metadata", pl.col("metadata")),
    )
