"""Small hand-made ledgers written as the warehouse's ``analytics.*`` tables (docs/architecture.md).

A :class:`LedgerBuilder` collects transactions the way the posting rules make them (invoice,
payment initiated/settled/failed, credit granted/applied, usage, refund, payout, reversal) and
:meth:`LedgerBuilder.write` creates the contract's tables in a DuckDB file: accounts, path
categories, transactions, entries, and the daily account and category snapshots, computed here in
plain Python from the balance definitions (not by the warehouse's code, not by dbt). The same
Python objects feed the independent expectations in ``expected.py``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa

from ledger_pipelines.paths import read_sql

NORMAL_BALANCE = {"assets": "debit", "expenses": "debit", "liabilities": "credit", "equity": "credit",
                  "revenue": "credit", "income": "credit"}

CONTRACT_DDL = """
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE TABLE analytics.accounts (account_id VARCHAR, account VARCHAR, normal_balance VARCHAR, currency VARCHAR,
    metadata JSON, created_at TIMESTAMPTZ);
CREATE TABLE analytics.categories (category VARCHAR, kind VARCHAR, parent_category VARCHAR, normal_balance VARCHAR);
CREATE TABLE analytics.account_categories (category VARCHAR, account VARCHAR);
CREATE TABLE analytics.transactions (transaction_id VARCHAR, idempotency_key VARCHAR, status VARCHAR,
    effective_at TIMESTAMPTZ, created_at TIMESTAMPTZ, posted_at TIMESTAMPTZ, archived_at TIMESTAMPTZ,
    status_changed_at TIMESTAMPTZ, reverses_transaction_id VARCHAR, reference VARCHAR, source_event_id VARCHAR,
    event_type VARCHAR, batch_id VARCHAR, description VARCHAR, metadata JSON, source JSON,
    effective_date DATE, posted_date DATE, archived_date DATE, posting_at TIMESTAMPTZ, posting_date DATE,
    subscription_id VARCHAR, customer_id VARCHAR, source_amount BIGINT, source_currency VARCHAR, invoice_id VARCHAR,
    plan_id VARCHAR, payment_id VARCHAR, is_payment BOOLEAN, credit_id VARCHAR, period_start DATE, period_end DATE,
    reason VARCHAR, region VARCHAR);
CREATE TABLE analytics.entries (transaction_id VARCHAR, entry_no INTEGER, account_id VARCHAR, account VARCHAR,
    direction VARCHAR, amount BIGINT, currency VARCHAR, effective_at TIMESTAMPTZ, effective_date DATE);
CREATE TABLE analytics.account_balance_snapshots (account VARCHAR, currency VARCHAR, as_of_date DATE,
    normal_balance VARCHAR, posted BIGINT, pending BIGINT, available BIGINT, posted_debits BIGINT,
    posted_credits BIGINT, pending_debits BIGINT, pending_credits BIGINT, day_posted_debits BIGINT,
    day_posted_credits BIGINT, day_pending_debits BIGINT, day_pending_credits BIGINT, day_entry_count BIGINT);
CREATE TABLE analytics.category_balance_snapshots (category VARCHAR, currency VARCHAR, as_of_date DATE,
    normal_balance VARCHAR, posted BIGINT, pending BIGINT, available BIGINT, posted_debits BIGINT,
    posted_credits BIGINT, pending_debits BIGINT, pending_credits BIGINT, day_posted_debits BIGINT,
    day_posted_credits BIGINT, day_pending_debits BIGINT, day_pending_credits BIGINT, day_entry_count BIGINT);
CREATE TABLE analytics.restatements (batch_id VARCHAR, scope VARCHAR, key VARCHAR, currency VARCHAR, as_of_date DATE,
    old_posted BIGINT, new_posted BIGINT, old_pending BIGINT, new_pending BIGINT, old_available BIGINT,
    new_available BIGINT, restated_at TIMESTAMPTZ);
CREATE SCHEMA IF NOT EXISTS warehouse_meta;
CREATE TABLE warehouse_meta.builds (product VARCHAR, watermark VARCHAR, last_day DATE, timezone VARCHAR,
    start_date DATE, fingerprint VARCHAR, first_written DATE, run_id VARCHAR, built_at TIMESTAMPTZ);
"""

SUMS = ("posted_debits", "posted_credits", "pending_debits", "pending_credits")


def when(value: str | datetime) -> datetime:
    """An aware datetime from '2024-01-05T09:00:00Z' (or a datetime with a zone)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError(f"{value!r}: give a time zone offset")
    return moment


def account_id(code: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(code.encode()).digest()[:16]))


def normal_balance(account: str) -> str:
    return NORMAL_BALANCE[account.split(":")[0]]


@dataclass
class Leg:
    account: str
    direction: str
    amount: int
    currency: str


@dataclass
class Txn:
    key: str
    effective_at: datetime
    legs: list[Leg]
    event_type: str
    status: str = "posted"
    posted_at: datetime | None = None
    archived_at: datetime | None = None
    reference: str | None = None
    reverses: str | None = None  # key of the reversed transaction
    subscription_id: str | None = None
    customer_id: str | None = None
    payload: dict = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None

    @property
    def transaction_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "subledger-test:" + self.key))


class LedgerBuilder:
    """Transactions as the posting rules would make them, then written as analytics tables."""

    def __init__(self, timezone: str = "UTC") -> None:
        self.tz = ZoneInfo(timezone)
        self.timezone = timezone
        self.txns: dict[str, Txn] = {}

    # -- generic --------------------------------------------------------------------------------
    def post(self, key: str, at: str | datetime, legs: list[Leg], *, event_type: str = "journal.posted",
             status: str = "posted", **fields) -> Txn:
        if key in self.txns:
            raise ValueError(f"duplicate key {key}")
        moment = when(at)
        txn = Txn(key, moment, legs, event_type, status=status,
                  posted_at=moment if status == "posted" else None, **fields)
        self.txns[key] = txn
        return txn

    def settle(self, key: str, at: str | datetime) -> None:
        txn = self.txns[key]
        assert txn.status == "pending"
        txn.status, txn.posted_at = "posted", when(at)

    def fail(self, key: str, at: str | datetime, reason: str | None = None) -> None:
        txn = self.txns[key]
        assert txn.status == "pending"
        txn.status, txn.archived_at = "archived", when(at)
        if reason:
            txn.metadata = {**txn.metadata, "failure_reason": reason}

    def reverse(self, key: str, new_key: str, at: str | datetime) -> Txn:
        original = self.txns[key]
        flipped = [Leg(g.account, "credit" if g.direction == "debit" else "debit", g.amount, g.currency) for g in original.legs]
        return self.post(new_key, at, flipped, event_type="transaction.reversed", reverses=key,
                         subscription_id=original.subscription_id, customer_id=original.customer_id,
                         reference=original.reference)

    # -- subscription events (source-events.md) ---------------------------------------------------
    def invoice(self, sub: str, cust: str, invoice_id: str, plan: str, amount: int, currency: str, at: str,
                period_start: str, period_end: str, **fields) -> Txn:
        return self.post(f"inv:{invoice_id}", at, [
            Leg(f"assets:receivables:{sub}", "debit", amount, currency),
            Leg(f"revenue:subscriptions:{plan}", "credit", amount, currency),
        ], event_type="invoice.issued", reference=f"invoice:{invoice_id}", subscription_id=sub, customer_id=cust,
            payload={"invoice_id": invoice_id, "plan_id": plan, "period_start": period_start, "period_end": period_end},
            **fields)

    def payment(self, sub: str, cust: str, payment_id: str, invoice_id: str, amount: int, currency: str, at: str,
                **fields) -> Txn:
        return self.post(f"pay:{payment_id}", at, [
            Leg("assets:cash:in_transit", "debit", amount, currency),
            Leg(f"assets:receivables:{sub}", "credit", amount, currency),
        ], event_type="payment.initiated", status="pending", reference=f"payment:{payment_id}",
            subscription_id=sub, customer_id=cust, payload={"payment_id": payment_id, "invoice_id": invoice_id}, **fields)

    def credit_granted(self, sub: str, cust: str, credit_id: str, amount: int, currency: str, at: str) -> Txn:
        return self.post(f"credit:{credit_id}", at, [
            Leg("expenses:promotional_credits", "debit", amount, currency),
            Leg(f"liabilities:customer_credits:{sub}", "credit", amount, currency),
        ], event_type="credit.granted", reference=f"credit:{credit_id}", subscription_id=sub, customer_id=cust,
            payload={"credit_id": credit_id, "reason": "goodwill"})

    def credit_applied(self, sub: str, cust: str, credit_id: str, invoice_id: str, amount: int, currency: str,
                       at: str) -> Txn:
        return self.post(f"apply:{credit_id}:{invoice_id}", at, [
            Leg(f"liabilities:customer_credits:{sub}", "debit", amount, currency),
            Leg(f"assets:receivables:{sub}", "credit", amount, currency),
        ], event_type="credit.applied", subscription_id=sub, customer_id=cust,
            payload={"credit_id": credit_id, "invoice_id": invoice_id})

    def usage(self, sub: str, cust: str, usage_id: str, metric: str, quantity: int, unit_amount: int,
              currency: str, at: str, key: str | None = None) -> Txn:
        amount = quantity * unit_amount
        return self.post(key or f"usage:{usage_id}", at, [
            Leg(f"assets:receivables:{sub}", "debit", amount, currency),
            Leg(f"revenue:usage:{metric}", "credit", amount, currency),
        ], event_type="usage.recorded", reference=f"usage:{usage_id}", subscription_id=sub, customer_id=cust,
            payload={"usage_id": usage_id, "metric": metric, "quantity": quantity, "unit_amount": unit_amount})

    def refund(self, sub: str, cust: str, refund_id: str, payment_id: str, amount: int, currency: str, at: str) -> Txn:
        return self.post(f"refund:{refund_id}", at, [
            Leg("revenue:refunds", "debit", amount, currency),
            Leg("assets:cash", "credit", amount, currency),
        ], event_type="refund.issued", reference=f"refund:{refund_id}", subscription_id=sub, customer_id=cust,
            payload={"refund_id": refund_id, "payment_id": payment_id})

    def payout(self, payout_id: str, amount: int, currency: str, at: str) -> Txn:
        return self.post(f"payout:{payout_id}", at, [
            Leg("assets:cash", "debit", amount, currency),
            Leg("assets:cash:in_transit", "credit", amount, currency),
        ], event_type="journal.posted", description=f"payout {payout_id}")

    # -- derived ----------------------------------------------------------------------------------
    def local_date(self, moment: datetime | None) -> date | None:
        return None if moment is None else moment.astimezone(self.tz).date()

    def entries(self) -> list[dict]:
        rows = []
        for txn in self.txns.values():
            for no, leg in enumerate(txn.legs):
                rows.append({
                    "txn": txn, "transaction_id": txn.transaction_id, "entry_no": no, "account": leg.account,
                    "direction": leg.direction, "amount": leg.amount, "currency": leg.currency,
                    "effective_at": txn.effective_at, "effective_date": self.local_date(txn.effective_at),
                })
        return rows

    def account_snapshots(self) -> list[dict]:
        """One row per account, currency and day it moved, from the balance definitions."""
        by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for entry in self.entries():
            by_key[(entry["account"], entry["currency"])].append(entry)
        rows = []
        for (account, currency), entries in sorted(by_key.items()):
            days = set()
            for e in entries:
                txn = e["txn"]
                days.add(e["effective_date"])
                for moment in (txn.posted_at, txn.archived_at):
                    if moment is not None:
                        days.add(max(e["effective_date"], self.local_date(moment)))
            rows += _snapshot_rows(account, currency, normal_balance(account), sorted(days),
                                   lambda day, es=entries: _sums_at(es, day, self.local_date))
        return rows

    def category_snapshots(self, account_rows: list[dict]) -> list[dict]:
        """Path categories: sums of their accounts' latest rows on each day any of them moved."""
        members: dict[tuple[str, str], list[list[dict]]] = defaultdict(list)
        per_account: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for row in account_rows:
            per_account[(row["account"], row["currency"])].append(row)
        for (account, currency), rows in per_account.items():
            for category in prefixes(account):
                members[(category, currency)].append(rows)
        out = []
        for (category, currency), series in sorted(members.items()):
            days = sorted({r["as_of_date"] for rows in series for r in rows})

            def at(day: date, series=series) -> dict[str, int]:
                total = dict.fromkeys(SUMS, 0)
                total["count"] = 0
                for rows in series:
                    latest = [r for r in rows if r["as_of_date"] <= day]
                    if latest:
                        for s in SUMS:
                            total[s] += latest[-1][s]
                    total["count"] += sum(r["day_entry_count"] for r in rows if r["as_of_date"] == day)
                return total

            for row in _snapshot_rows(category, currency, normal_balance(category), days, at):
                row["category"] = row.pop("account")
                out.append(row)
        return out

    # -- writing ----------------------------------------------------------------------------------
    def write(self, path: Path | str) -> Path:
        """Create the analytics tables in a new DuckDB file at ``path``."""
        path = Path(path)
        path.unlink(missing_ok=True)
        entries = self.entries()
        account_rows = self.account_snapshots()
        category_rows = self.category_snapshots(account_rows)
        accounts = sorted({e["account"] for e in entries})
        categories = sorted({c for a in accounts for c in prefixes(a)})
        created = datetime(2020, 1, 1, tzinfo=ZoneInfo("UTC"))
        with duckdb.connect(str(path)) as con:
            con.execute(CONTRACT_DDL)
            con.execute(read_sql("warehouse/macros.sql"))  # the pipeline's file carries them; dbt calls some
            _insert(con, "accounts", [{"account_id": account_id(a), "account": a, "normal_balance": normal_balance(a),
                                       "currency": None, "metadata": "{}", "created_at": created} for a in accounts])
            _insert(con, "categories", [{"category": c, "kind": "path",
                                         "parent_category": c.rsplit(":", 1)[0] if ":" in c else None,
                                         "normal_balance": normal_balance(c)} for c in categories])
            _insert(con, "account_categories", [{"category": c, "account": a} for a in accounts for c in prefixes(a)])
            _insert(con, "transactions", [self._transaction_row(t) for t in self.txns.values()])
            _insert(con, "entries", [{k: e[k] for k in ("transaction_id", "entry_no", "account", "direction", "amount",
                                                        "currency", "effective_at", "effective_date")}
                                     | {"account_id": account_id(e["account"])} for e in entries])
            _insert(con, "account_balance_snapshots", account_rows)
            _insert(con, "category_balance_snapshots", category_rows)
            # the snapshots were built through the last day anything moved (the pipeline's: today)
            last_day = max((r["as_of_date"] for r in account_rows), default=None)
            con.execute("INSERT INTO warehouse_meta.builds VALUES ('account_snapshots', '1:1:', $d, $tz, $first, '', $first, "
                        "'fixture', now())", {"d": last_day, "tz": self.timezone,
                                               "first": min((r["as_of_date"] for r in account_rows), default=date(2020, 1, 1))})
        return path

    def _transaction_row(self, t: Txn) -> dict:
        source = {"subscription_id": t.subscription_id, "customer_id": t.customer_id,
                  "amount": sum(leg.amount for leg in t.legs if leg.direction == "debit"),
                  "currency": t.legs[0].currency, "payload": t.payload, "recorded_at": t.effective_at.isoformat()}
        posting_at = max(t.effective_at, t.posted_at) if t.status == "posted" else None
        payment_reference = t.reference[len("payment:"):] if t.reference and t.reference.startswith("payment:") else None
        is_payment = t.event_type == "payment.initiated" or payment_reference is not None
        return {
            "transaction_id": t.transaction_id, "idempotency_key": t.key, "status": t.status,
            "effective_at": t.effective_at, "created_at": t.effective_at, "posted_at": t.posted_at,
            "archived_at": t.archived_at,
            "status_changed_at": t.archived_at or (t.posted_at if t.posted_at != t.effective_at else None),
            "reverses_transaction_id": self.txns[t.reverses].transaction_id if t.reverses else None,
            "reference": t.reference, "source_event_id": t.key, "event_type": t.event_type, "batch_id": None,
            "description": t.description or f"{t.event_type} {t.key}", "metadata": json.dumps(t.metadata),
            "source": json.dumps(source),
            # what the warehouse's mirror computes once per transaction, from the builder's own fields
            "effective_date": self.local_date(t.effective_at), "posted_date": self.local_date(t.posted_at),
            "archived_date": self.local_date(t.archived_at), "posting_at": posting_at,
            "posting_date": self.local_date(posting_at), "subscription_id": t.subscription_id,
            "customer_id": t.customer_id, "source_amount": source["amount"], "source_currency": source["currency"],
            "invoice_id": t.payload.get("invoice_id"), "plan_id": t.payload.get("plan_id"),
            "payment_id": t.payload.get("payment_id") or payment_reference, "is_payment": is_payment,
            "credit_id": t.payload.get("credit_id"), "period_start": self._payload_day(t.payload.get("period_start")),
            "period_end": self._payload_day(t.payload.get("period_end")),
            "reason": t.metadata.get("failure_reason") or t.payload.get("reason") or t.metadata.get("reason"),
            "region": t.metadata.get("region"),
        }

    def _payload_day(self, text: str | None) -> date | None:
        """A payload date: a bare date as written, a timestamp as its reporting day."""
        if text is None:
            return None
        return date.fromisoformat(text) if len(text) == 10 else self.local_date(datetime.fromisoformat(text))


def prefixes(code: str) -> list[str]:
    parts = code.split(":")
    return [":".join(parts[: i + 1]) for i in range(len(parts))]


def _sums_at(entries: list[dict], day: date, local_date) -> dict[str, int]:
    sums = dict.fromkeys(SUMS, 0)
    sums["count"] = 0
    for e in entries:
        if e["effective_date"] > day:
            continue
        sums["count"] += 1
        txn = e["txn"]
        if txn.status == "posted" and local_date(txn.posted_at) <= day:
            sums["posted_" + e["direction"] + "s"] += e["amount"]
        elif txn.status == "archived" and local_date(txn.archived_at) <= day:
            continue
        else:
            sums["pending_" + e["direction"] + "s"] += e["amount"]
    return sums


def _snapshot_rows(key: str, currency: str, normal: str, days: list[date], sums_at) -> list[dict]:
    rows, previous = [], dict.fromkeys((*SUMS, "count"), 0)
    for day in days:
        s = sums_at(day)
        sign = 1 if normal == "debit" else -1
        posted = sign * (s["posted_debits"] - s["posted_credits"])
        pending = posted + sign * (s["pending_debits"] - s["pending_credits"])
        available = posted - (s["pending_credits"] if normal == "debit" else s["pending_debits"])
        rows.append({
            "account": key, "currency": currency, "as_of_date": day, "normal_balance": normal,
            "posted": posted, "pending": pending, "available": available, **{k: s[k] for k in SUMS},
            **{f"day_{k}": s[k] - previous[k] for k in SUMS}, "day_entry_count": s["count"] - previous["count"],
        })
        previous = s
    return rows


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = [r[0] for r in con.execute(f"DESCRIBE analytics.{table}").fetchall()]
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE analytics.{table}").fetchall()}
    arrays = {}
    for c in columns:
        values = [r.get(c) for r in rows]
        if types[c] == "TIMESTAMP WITH TIME ZONE":
            arrays[c] = pa.array(values, pa.timestamp("us", tz="UTC"))
        elif types[c] == "DATE":
            arrays[c] = pa.array(values, pa.date32())
        elif types[c] in ("BIGINT", "INTEGER"):
            arrays[c] = pa.array(values, pa.int64())
        elif types[c] == "BOOLEAN":
            arrays[c] = pa.array(values, pa.bool_())
        else:
            arrays[c] = pa.array(values, pa.string())
    frame = pa.table(arrays)  # noqa: F841 (read by DuckDB's replacement scan)
    con.execute(f"INSERT INTO analytics.{table} SELECT * FROM frame")
