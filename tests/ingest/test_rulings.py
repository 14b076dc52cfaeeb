"""The December 2026 contract rulings ("Rulings on edge cases", source-events.md), one test per ruling,
each run on every input format: JSON lines, CSV, Parquet and the outbox table, into a real ledger; and the
hostile lifecycle tries of issue 20 on the same formats."""

from __future__ import annotations

import csv
import io
import json
from zoneinfo import ZoneInfo

import polars as pl
import psycopg
import pytest

from ledger_pipelines.ingest.ingestor import ingest_paths
from ledger_pipelines.ingest.writer import BatchReport
from ledger_pipelines.ledger.periods import close_period
from ledger_pipelines.service.queue import drain, merge_reports

FORMATS = ("jsonl", "csv", "parquet", "outbox")
COLUMNS = ("event_id", "event_type", "effective_at", "recorded_at", "subscription_id", "customer_id", "amount", "currency",
           "payload", "metadata")
INT64_MAX = 2**63 - 1


class Raw(str):
    """JSON text sent exactly as written (a number literal such as ``1e2``, an object with a repeated key)."""


def _json(value: object) -> str:
    return value if isinstance(value, Raw) else json.dumps(value, ensure_ascii=False)


def _cell(value: object) -> str | None:
    """A CSV/Parquet/outbox cell: JSON text for objects and raw values, the text itself otherwise."""
    if value is None:
        return None
    if isinstance(value, Raw) or not isinstance(value, (dict, list)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def send(env, ledger_db, events: list[dict], fmt: str, name: str) -> BatchReport:
    """Ingest ``events`` as one batch in ``fmt`` (a landed file, or rows of ingest.outbox)."""
    if fmt == "outbox":
        with psycopg.connect(ledger_db.writer_dsn) as app:
            for event in events:
                app.execute(f"INSERT INTO ingest.outbox ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})",
                            [_cell(event.get(c)) for c in COLUMNS])
        report = merge_reports(drain(env))
        assert report is not None
        return report
    path = env.landing_dir / f"{name}.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join("{" + ",".join(f"{json.dumps(k)}:{_json(v)}" for k, v in e.items()) + "}\n" for e in events))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows([[_cell(e.get(c)) or "" for c in COLUMNS] for e in events])
        path.write_text(buffer.getvalue())
    else:
        columns = {}
        for c in COLUMNS:
            values = [e.get(c) for e in events]
            present = [v for v in values if v is not None]
            if present and all(type(v) is int for v in present):
                columns[c] = pl.Series(c, values, dtype=pl.Int64)
            elif present and all(type(v) is float for v in present):
                columns[c] = pl.Series(c, values, dtype=pl.Float64)
            else:
                columns[c] = pl.Series(c, [_cell(v) for v in values], dtype=pl.Utf8)
        pl.DataFrame(columns).write_parquet(path)
    [report] = ingest_paths(env, [path])
    return report


def invoice(event_id: str, invoice_id: str | None = None, *, day: str = "2024-03-05", **changes) -> dict:
    event = {"event_id": event_id, "event_type": "invoice.issued", "effective_at": f"{day}T10:00:00Z",
             "subscription_id": "sub_1", "customer_id": "cus_1", "amount": 1200, "currency": "USD",
             "payload": {"invoice_id": invoice_id or f"inv_{event_id}", "plan_id": "pro", "period_start": day, "period_end": day}}
    event.update(changes)
    return event


def journal(event_id: str, legs: list[tuple[str, str, int]]) -> dict:
    return {"event_id": event_id, "event_type": "journal.posted", "effective_at": "2024-03-06T10:00:00Z",
            "payload": {"legs": [{"account": a, "direction": d, "amount": n, "currency": "USD"} for a, d, n in legs]}}


def outcomes(dsn: str) -> dict[str, str]:
    """event_id -> its latest outcome (posted/pending, duplicate, or the quarantine reason code)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT event_id, coalesce(reason_code, outcome) FROM ingest.events ORDER BY at, event_id").fetchall()
    return {event_id: outcome for event_id, outcome in rows}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_business_reference_is_unique_for_the_life_of_the_ledger(fmt, ingest_env, ledger_db):
    send(ingest_env, ledger_db, [invoice("first", "inv_1")], "jsonl", "earlier")
    report = send(ingest_env, ledger_db, [
        invoice("reuses_ledger", "inv_1"),  # inv_1 was created by another event, in the ledger
        invoice("new", "inv_2"),
        invoice("reuses_batch", "inv_2"),  # created earlier in this very batch
        invoice("first", "inv_1"),  # the first one again: a duplicate, not a conflict
    ], fmt, "later")
    assert report.reasons == {"reference_conflict": 2} and (report.posted, report.duplicate) == (1, 1)
    got = outcomes(ledger_db.dsn)
    assert (got["reuses_ledger"], got["reuses_batch"], got["new"], got["first"]) == (
        "reference_conflict", "reference_conflict", "posted", "duplicate")
    with psycopg.connect(ledger_db.dsn) as conn:
        stands = conn.execute("SELECT idempotency_key FROM ledger.transactions WHERE reference = 'invoice:inv_1'").fetchall()
        message = conn.execute("SELECT message FROM ingest.quarantine WHERE event_id = 'reuses_ledger'").fetchone()[0]
    assert stands == [("first",)] and "invoice:inv_1 already names ledger transaction" in message


BAD_AMOUNTS = {  # every format: decimal strings that are not an optional '-' and digits
    "as_text_fraction": "100.0", "as_text_exponent": "1e2", "plus_sign": "+100", "underscore": "1_000",
    "leading_space": " 100", "hex": "0x64",
}
BAD_NUMBERS = {  # formats with typed numbers: a literal with a fraction or an exponent, whatever its value
    "jsonl": {"fraction": Raw("100.0"), "exponent": Raw("1e2"), "big_exponent": Raw("1E+2")},
    "parquet": {"float": 100.0},  # a float column (its own file: a column has one type)
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_amounts_are_integer_literals_only(fmt, ingest_env, ledger_db):
    events = [invoice(f"bad_{name}", amount=value) for name, value in BAD_AMOUNTS.items()]
    events.append(invoice("good", amount="1250"))
    report = send(ingest_env, ledger_db, events, fmt, "amounts")
    numbers = BAD_NUMBERS.get(fmt, {})
    if numbers:
        send(ingest_env, ledger_db, [invoice(f"bad_{name}", amount=value) for name, value in numbers.items()], fmt, "numbers")
    got = outcomes(ledger_db.dsn)
    assert report.posted == 1 and got["good"] == "posted"
    for name in [*BAD_AMOUNTS, *numbers]:
        assert got[f"bad_{name}"] == "amount_not_integer", name
    with psycopg.connect(ledger_db.dsn) as conn:
        assert conn.execute("SELECT (source ->> 'amount') FROM ledger.transactions WHERE idempotency_key = 'good'").fetchone() == ("1250",)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_repeated_key_at_any_depth_is_malformed_json(fmt, ingest_env, ledger_db):
    payload = '{{"invoice_id": "inv_{0}", "plan_id": "pro", "period_start": "2024-03-05", "period_end": "2024-03-05"{1}}}'
    events = [
        invoice("dup_payload", payload=Raw(payload.format("a", ', "plan_id": "basic"'))),
        invoice("dup_nested", payload=Raw(payload.format("b", ', "x": {"y": [{"k": 1, "k": 2}]}'))),
        invoice("dup_metadata", metadata=Raw('{"region": "eu", "region": "us"}')),
        invoice("fine", payload=Raw(payload.format("c", ', "x": {"y": [{"k": 1}, {"k": 2}]}'))),
    ]
    report = send(ingest_env, ledger_db, events, fmt, "repeated")
    assert report.reasons == {"malformed_json": 3} and report.posted == 1
    assert outcomes(ledger_db.dsn)["fine"] == "posted"
    with psycopg.connect(ledger_db.dsn) as conn:  # refused before parsing: the entries have no event id, but the line
        rows = conn.execute("SELECT line_no, message FROM ingest.quarantine ORDER BY line_no").fetchall()
    first_row = 2 if fmt == "csv" else 1
    assert [line for line, _ in rows] == [first_row, first_row + 1, first_row + 2]
    assert all("more than once" in message for _, message in rows)


@pytest.mark.parametrize("fmt", FORMATS)
def test_account_codes_are_nfc_without_format_characters_under_a_lower_case_type(fmt, ingest_env, ledger_db):
    bad = {
        "decomposed": "assets:cafe\u0301",  # 'e' + combining acute: looks like 'café'
        "zero_width_space": "assets:ca\u200bsh",
        "soft_hyphen": "assets:soft\u00adhyphen",
        "byte_order_mark": "assets:\ufeffbom",
        "word_joiner": "assets:word\u2060joiner",
        "capitalised_type": "Equity:x",  # refused, not folded to equity
    }
    events = [journal(f"bad_{name}", [(code, "debit", 10), ("equity:owner", "credit", 10)]) for name, code in bad.items()]
    events.append(journal("good", [("assets:caf\u00e9", "debit", 10), ("equity:owner", "credit", 10)]))
    events.append(invoice("nfd_subscription", subscription_id="sub_e\u0301"))  # rendered into assets:receivables:{subscription_id}
    report = send(ingest_env, ledger_db, events, fmt, "accounts")
    got = outcomes(ledger_db.dsn)
    assert got["good"] == "posted" and report.posted == 1
    for name in [*(f"bad_{n}" for n in bad), "nfd_subscription"]:
        assert got[name] == "invalid_account", name
    with psycopg.connect(ledger_db.dsn) as conn:
        codes = {r[0] for r in conn.execute("SELECT code FROM ledger.accounts").fetchall()}
    assert "assets:caf\u00e9" in codes and not any(c.lower().startswith("equity:x") or "\u0301" in c for c in codes)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_quarantined_event_sent_again_is_processed_and_its_quarantine_entry_resolved(fmt, ingest_env, ledger_db):
    send(ingest_env, ledger_db, [invoice("retry", currency="usd")], "jsonl", "first")
    assert outcomes(ledger_db.dsn)["retry"] == "unknown_currency"
    report = send(ingest_env, ledger_db, [invoice("retry")], fmt, "fixed")
    assert report.posted == 1 and outcomes(ledger_db.dsn)["retry"] == "posted"
    with psycopg.connect(ledger_db.dsn) as conn:
        resolution = conn.execute(
            "SELECT q.resolution, q.resolved_by_batch::text, q.resolved_transaction_id = t.transaction_id "
            "FROM ingest.quarantine q JOIN ledger.transactions t ON t.idempotency_key = q.event_id "
            "WHERE q.event_id = 'retry'").fetchone()
        audit = conn.execute("SELECT after ->> 'transaction_id' FROM ledger.audit_log WHERE action = 'event.replayed'").fetchone()[0]
        transaction_id = conn.execute("SELECT transaction_id::text FROM ledger.transactions WHERE idempotency_key = 'retry'").fetchone()[0]
    assert resolution == ("posted", report.batch_id, True) and audit == transaction_id


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_redelivered_event_stays_a_duplicate_after_its_period_is_closed(fmt, ingest_env, ledger_db):
    send(ingest_env, ledger_db, [invoice("jan", day="2024-01-10")], "jsonl", "january")
    with psycopg.connect(ledger_db.dsn) as conn:
        close_period(conn, "2024-01", ZoneInfo("UTC"), actor="test")
    report = send(ingest_env, ledger_db, [invoice("jan", day="2024-01-10"), invoice("late", day="2024-01-11")], fmt, "again")
    assert (report.duplicate, report.reasons) == (1, {"period_closed": 1})
    got = outcomes(ledger_db.dsn)
    assert (got["jan"], got["late"]) == ("duplicate", "period_closed")


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_balance_goes_beyond_64_bits(fmt, ingest_env, ledger_db):
    send(ingest_env, ledger_db, [journal("fill", [("assets:vault", "debit", INT64_MAX), ("equity:owner", "credit", INT64_MAX)])],
         "jsonl", "fill")
    report = send(ingest_env, ledger_db, [
        journal("overflow", [("assets:vault", "debit", 1), ("revenue:other", "credit", 1)]),
        journal("owner_overflow", [("assets:cash", "debit", 1), ("equity:owner", "credit", 1)]),
        journal("fits", [("revenue:other", "debit", 5), ("assets:vault", "credit", 5)]),
    ], fmt, "more")
    got = outcomes(ledger_db.dsn)
    assert (got["overflow"], got["owner_overflow"], got["fits"]) == ("amount_out_of_range", "amount_out_of_range", "posted")
    assert report.reasons == {"amount_out_of_range": 2}
    with psycopg.connect(ledger_db.dsn) as conn:
        vault = conn.execute("SELECT b.posted_debits - b.posted_credits FROM ledger.balances b JOIN ledger.accounts a "
                             "USING (account_id) WHERE a.code = 'assets:vault'").fetchone()[0]
    assert vault == INT64_MAX - 5


def test_the_quarantine_list_shows_where_the_bytes_are_and_what_resolved_an_entry(ingest_env, ledger_db):
    from ledger_pipelines.ingest.quarantine import list_quarantine

    broken = ingest_env.landing_dir / "broken.jsonl.gz"
    broken.write_text("not gzip\n")
    ingest_paths(ingest_env, [broken])
    send(ingest_env, ledger_db, [invoice("retry", currency="usd")], "jsonl", "first")
    fixed = send(ingest_env, ledger_db, [invoice("retry")], "jsonl", "fixed")
    with psycopg.connect(ledger_db.reader_dsn) as conn:
        entries = {e.source_name.rsplit("/", 1)[-1]: e for e in list_quarantine(conn, include_resolved=True)}
        transaction_id = conn.execute("SELECT transaction_id::text FROM ledger.transactions WHERE idempotency_key = 'retry'").fetchone()[0]
    whole = entries["broken.jsonl.gz"]
    assert (whole.raw_bytes, whole.file_path, whole.file_bytes) == (0, str(broken), broken.stat().st_size)
    assert whole.file_sha256 is not None and whole.resolved_transaction_id is None
    retried = entries["first.jsonl"]
    assert (retried.resolution, retried.resolved_transaction_id, fixed.posted) == ("posted", transaction_id, 1)


def payment(event_id: str, event_type: str, payment_id: str, at: str) -> dict:
    payload = {"payment_id": payment_id, "invoice_id": f"inv_{payment_id}"} if event_type == "payment.initiated" else (
        {"payment_id": payment_id, "reason": "declined"} if event_type == "payment.failed" else {"payment_id": payment_id})
    return {"event_id": event_id, "event_type": event_type, "effective_at": at, "subscription_id": "sub_1",
            "customer_id": "cus_1", "amount": 500, "currency": "USD", "payload": payload}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_lifecycle_event_dated_before_its_target_is_quarantined(fmt, ingest_env, ledger_db):
    """Issue 20: a settlement dated before its payment began was accepted (posted_at before effective_at)."""
    send(ingest_env, ledger_db, [payment("init_a", "payment.initiated", "pay_a", "2024-03-05T10:00:00Z")], "jsonl", "first")
    report = send(ingest_env, ledger_db, [
        payment("settle_a_early", "payment.settled", "pay_a", "2024-03-05T09:59:59.999999Z"),  # target in the ledger
        payment("init_b", "payment.initiated", "pay_b", "2024-03-06T10:00:00Z"),
        payment("fail_b_early", "payment.failed", "pay_b", "1999-01-01T00:00:00Z"),  # target earlier in this batch
        payment("settle_a", "payment.settled", "pay_a", "2024-03-05T10:00:00Z"),  # at its effective time: fine
    ], fmt, "moves")
    got = outcomes(ledger_db.dsn)
    assert (got["settle_a_early"], got["fail_b_early"], got["settle_a"], got["init_b"]) == (
        "invalid_transition", "invalid_transition", "posted", "pending")
    assert report.reasons == {"invalid_transition": 2}
    with psycopg.connect(ledger_db.dsn) as conn:
        message = conn.execute("SELECT message FROM ingest.quarantine WHERE event_id = 'settle_a_early'").fetchone()[0]
        moves = conn.execute("SELECT idempotency_key, status, posted_at = effective_at FROM ledger.transactions "
                             "WHERE idempotency_key IN ('init_a', 'init_b') ORDER BY 1").fetchall()
        settled = conn.execute("SELECT e.batch_id::text, t.idempotency_key FROM ingest.events e JOIN ledger.transactions t "
                               "USING (transaction_id) WHERE e.event_id = 'settle_a'").fetchall()
    assert "before the effective_at of its target" in message and "2024-03-05T09:59:59.999999" in message
    assert moves == [("init_a", "posted", True), ("init_b", "pending", None)]
    assert settled == [(report.batch_id, "init_a")]  # the move answers per event, for the recording service too
