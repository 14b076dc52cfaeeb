"""Mapping: what each event type becomes in the PostingPlan (keys, legs, links, deferred corrections)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl

from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.mapping import REVERSAL_KEY_SUFFIX, complete_deferred, deferred_postings
from ledger_pipelines.ledger.plan import LEGS_SCHEMA, POSTINGS_SCHEMA, REVERSALS_SCHEMA, TRANSITIONS_SCHEMA

from .helpers import assert_accounted, invoice, journal, only_reject, rules, run


def sub_event(event_id, event_type, payload, **changes):
    return invoice(event_id, event_type=event_type, payload=payload, **changes)


def usage(event_id, usage_id="u1", quantity=10, unit_amount=5, **changes):
    return sub_event(event_id, "usage.recorded",
                     {"usage_id": usage_id, "metric": "api_calls", "quantity": quantity, "unit_amount": unit_amount},
                     amount=None, currency="EUR", **changes)


def correction(event_id, usage_id="u1", quantity=7, **extra):
    return sub_event(event_id, "usage.corrected", {"usage_id": usage_id, "quantity": quantity, **extra}, amount=None,
                     currency="EUR", effective_at="2024-03-05T00:00:00Z")


def legs_of(batch, key):
    return batch.plan.legs.filter(pl.col("idempotency_key") == key).select("account", "direction", "amount", "currency").rows()


def test_plan_frames_have_exactly_the_plan_schemas(tmp_path):
    batch = run(tmp_path, [invoice("e1"), journal("j1"), correction("c1"), usage("u1"),
                           sub_event("s1", "payment.settled", {"payment_id": "p1"}, amount=None)])
    assert batch.plan.postings.schema == POSTINGS_SCHEMA and batch.plan.legs.schema == LEGS_SCHEMA
    assert batch.plan.transitions.schema == TRANSITIONS_SCHEMA and batch.plan.reversals.schema == REVERSALS_SCHEMA


def test_invoice(tmp_path):
    batch = run(tmp_path, [invoice("e1", metadata={"region": "eu", "channel": "web"})])
    posting = batch.plan.postings.row(0, named=True)
    assert posting["idempotency_key"] == "e1" and posting["status"] == "posted" and posting["phase"] == 0
    assert posting["reference"] == "invoice:inv_1" and posting["effective_at"] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert posting["metadata"] == '{"channel":"web","region":"eu"}'
    source = json.loads(posting["source"])
    assert source == {"subscription_id": "sub_1", "customer_id": "cus_1", "amount": 2900, "currency": "USD",
                      "payload": {"invoice_id": "inv_1", "period_end": "2024-03-31", "period_start": "2024-03-01", "plan_id": "pro"},
                      "recorded_at": "2024-03-01T10:00:05.000000Z"}
    assert legs_of(batch, "e1") == [("assets:receivables:sub_1", "debit", 2900, "USD"),
                                    ("revenue:subscriptions:pro", "credit", 2900, "USD")]


def test_payment_lifecycle_and_refund(tmp_path):
    batch = run(tmp_path, [
        sub_event("p1", "payment.initiated", {"payment_id": "pay_1", "invoice_id": "inv_1"}),
        sub_event("p2", "payment.settled", {"payment_id": "pay_1"}, amount=None, effective_at="2024-03-03T00:00:00Z"),
        sub_event("p3", "payment.failed", {"payment_id": "pay_2", "reason": "card_declined"}, amount=None),
        sub_event("r1", "refund.issued", {"refund_id": "re_1", "payment_id": "pay_1"}, amount=500),
    ])
    postings = batch.plan.postings
    assert postings.filter(pl.col("event_id") == "p1")["status"].to_list() == ["pending"]
    assert postings.filter(pl.col("event_id") == "p1")["reference"].to_list() == ["payment:pay_1"]
    assert legs_of(batch, "p1") == [("assets:cash:in_transit", "debit", 2900, "USD"), ("assets:receivables:sub_1", "credit", 2900, "USD")]
    moves = batch.plan.transitions.select("event_id", "to_status", "target_key", "target_reference", "at").rows()
    assert moves == [("p2", "posted", None, "payment:pay_1", datetime(2024, 3, 3, tzinfo=UTC)),
                     ("p3", "archived", None, "payment:pay_2", datetime(2024, 3, 1, 10, tzinfo=UTC))]
    assert legs_of(batch, "r1") == [("revenue:refunds", "debit", 500, "USD"), ("assets:cash", "credit", 500, "USD")]


def test_credits_carry_the_available_condition(tmp_path):
    batch = run(tmp_path, [
        sub_event("g1", "credit.granted", {"credit_id": "cr_1", "reason": "goodwill"}, amount=1000),
        sub_event("a1", "credit.applied", {"credit_id": "cr_1", "invoice_id": "inv_1"}, amount=400),
    ])
    assert legs_of(batch, "g1") == [("expenses:promotional_credits", "debit", 1000, "USD"),
                                    ("liabilities:customer_credits:sub_1", "credit", 1000, "USD")]
    applied = batch.plan.legs.filter(pl.col("idempotency_key") == "a1")
    assert applied["account"].to_list() == ["liabilities:customer_credits:sub_1", "assets:receivables:sub_1"]
    assert applied["conditions"].to_list() == [[{"balance": "available", "op": "gte", "amount": 0}], []]


def test_usage_amount_is_quantity_times_unit_amount(tmp_path):
    batch = run(tmp_path, [usage("u1", quantity=12, unit_amount="250")])
    assert legs_of(batch, "u1") == [("assets:receivables:sub_1", "debit", 3000, "EUR"), ("revenue:usage:api_calls", "credit", 3000, "EUR")]


def test_usage_amount_overflow_is_refused(tmp_path):
    batch = run(tmp_path, [usage("u1", quantity=2**40, unit_amount=2**40)])
    reject = only_reject(batch)
    assert reject["reason_code"] == R.AMOUNT_OUT_OF_RANGE and str(2**40) in reject["message"]
    assert batch.plan.legs.is_empty()


def test_correction_reverses_and_replaces_with_the_batch_original(tmp_path):
    batch = run(tmp_path, [usage("u1"), correction("c1", quantity=7)])
    reversal = batch.plan.reversals.row(0, named=True)
    assert reversal["idempotency_key"] == "c1" + REVERSAL_KEY_SUFFIX and reversal["target_reference"] == "usage:u1"
    assert reversal["target_key"] is None and reversal["event_id"] == "c1"
    replacement = batch.plan.postings.filter(pl.col("event_id") == "c1").row(0, named=True)
    assert replacement["phase"] == 1 and replacement["correction_of"] == "usage:u1" and replacement["reference"] == "usage:u1"
    assert replacement["content_hash"] == reversal["content_hash"]
    assert legs_of(batch, "c1") == [("assets:receivables:sub_1", "debit", 35, "EUR"), ("revenue:usage:api_calls", "credit", 35, "EUR")]
    assert "from_target" not in replacement["source"]


def test_correction_to_zero_only_reverses(tmp_path):
    batch = run(tmp_path, [usage("u1"), correction("c1", quantity=0)])
    assert batch.plan.reversals["event_id"].to_list() == ["c1"]
    assert batch.plan.postings["event_id"].to_list() == ["u1"]
    assert_accounted(batch)


def test_correction_with_its_own_unit_amount_and_metric(tmp_path):
    batch = run(tmp_path, [correction("c1", quantity=3, unit_amount=9, metric="seats")])
    assert legs_of(batch, "c1") == [("assets:receivables:sub_1", "debit", 27, "EUR"), ("revenue:usage:seats", "credit", 27, "EUR")]
    assert deferred_postings(batch.plan).is_empty()


def test_correction_of_an_earlier_batch_is_deferred_then_completed(tmp_path):
    batch = run(tmp_path, [correction("c1", usage_id="u9", quantity=4)])
    waiting = deferred_postings(batch.plan)
    assert waiting.select("seq", "idempotency_key", "reference").rows() == [(0, "c1", "usage:u9")]
    deferred = batch.plan.legs.select("account", "amount").rows()
    assert deferred == [("assets:receivables:sub_1", None), (None, None)], "the DB side fills what the event lacks"
    marker = json.loads(batch.plan.postings["source"][0])["from_target"]
    assert marker == {"reference": "usage:u9", "fields": ["unit_amount", "metric"]}

    targets = pl.DataFrame({"reference": ["usage:u9"], "payload": ['{"usage_id":"u9","metric":"storage_gb","quantity":10,"unit_amount":25}']})
    plan, refusals = complete_deferred(batch.plan, targets, rules())
    assert refusals.is_empty()
    assert plan.legs.select("account", "direction", "amount", "currency").rows() == [
        ("assets:receivables:sub_1", "debit", 100, "EUR"), ("revenue:usage:storage_gb", "credit", 100, "EUR")]
    assert plan.legs["idempotency_key"].to_list() == ["c1", "c1"]

    plan, refusals = complete_deferred(batch.plan, targets.clear(), rules())
    assert refusals["reason_code"].to_list() == ["unknown_target"] and plan.postings.is_empty() and plan.reversals.is_empty()


def test_journal_legs_conditions_and_lock_versions(tmp_path):
    legs = [
        {"account": "assets:cash", "direction": "debit", "amount": "970", "currency": "USD", "lock_version": 7},
        {"account": "expenses:payment_fees", "direction": "debit", "amount": 30, "currency": "USD",
         "conditions": {"posted": {"lte": 100, "gte": 0}}},
        {"account": "assets:cash:in_transit", "direction": "credit", "amount": 1000, "currency": "USD"},
    ]
    batch = run(tmp_path, [journal("j1", legs=legs)])
    plan_legs = batch.plan.legs
    assert plan_legs.select("leg_no", "account", "direction", "amount", "lock_version").rows() == [
        (0, "assets:cash", "debit", 970, 7), (1, "expenses:payment_fees", "debit", 30, None),
        (2, "assets:cash:in_transit", "credit", 1000, None)]
    assert plan_legs["conditions"][1].to_list() == [{"balance": "posted", "op": "gte", "amount": 0},
                                                    {"balance": "posted", "op": "lte", "amount": 100}]
    posting = batch.plan.postings.row(0, named=True)
    assert posting["status"] == "posted" and posting["description"] == "payout"


def test_pending_journal_and_its_lifecycle(tmp_path):
    pending = journal("j1")
    pending["payload"]["status"] = "pending"
    batch = run(tmp_path, [
        pending,
        {"event_id": "t1", "event_type": "transaction.posted", "effective_at": "2024-03-04", "payload": {"target_event_id": "j1"}},
        {"event_id": "t2", "event_type": "transaction.archived", "effective_at": "2024-03-04", "payload": {"target_event_id": "j0"}},
        {"event_id": "t3", "event_type": "transaction.reversed", "effective_at": "2024-03-05",
         "payload": {"target_event_id": "e7", "reason": "issued twice"}},
    ])
    assert batch.plan.postings["status"].to_list() == ["pending"]
    assert batch.plan.transitions.select("event_id", "to_status", "target_key").rows() == [("t1", "posted", "j1"), ("t2", "archived", "j0")]
    assert batch.plan.reversals.select("idempotency_key", "target_key", "reason").rows() == [("t3", "e7", "issued twice")]


def test_unknown_top_level_fields_are_kept_in_metadata(tmp_path):
    event = invoice("e1", metadata={"region": "eu"})
    event["source_system"] = "billing-v2"
    event["retries"] = 3
    batch = run(tmp_path, [event])
    assert json.loads(batch.plan.postings["metadata"][0]) == {"region": "eu", "retries": "3", "source_system": "billing-v2"}


def test_undeclared_payload_fields_are_kept_in_source(tmp_path):
    payload = {"invoice_id": "inv_1", "plan_id": "pro", "period_start": "2024-03-01", "period_end": "2024-03-31",
               "zz": {"b": 1, "a": [1.5, "x"]}, "coupon": "SPRING"}
    batch = run(tmp_path, [invoice("e1", payload=payload)])
    source = json.loads(batch.plan.postings["source"][0])
    assert source["payload"]["zz"] == {"a": [1.5, "x"], "b": 1} and source["payload"]["coupon"] == "SPRING"
    assert list(source["payload"]) == sorted(source["payload"])


def test_bare_date_is_midnight_in_the_reporting_time_zone(tmp_path):
    batch = run(tmp_path, [invoice("e1", effective_at="2024-03-10")], SUBLEDGER_TIMEZONE="America/New_York")
    assert batch.plan.postings["effective_at"].to_list() == [datetime(2024, 3, 10, 5, tzinfo=UTC)]
    assert batch.effective_dates == [datetime(2024, 3, 10).date()]


def test_injection_looking_strings_are_data(tmp_path):
    nasty = "'; DROP TABLE ledger.entries; --"
    formula = "=cmd|' /C calc'!A0"
    event = invoice("e1", customer_id=nasty, metadata={"note": formula, "q": 'a "quoted" \\ value'},
                    payload={"invoice_id": formula, "plan_id": "pro", "period_start": "2024-03-01", "period_end": "2024-03-31"})
    batch = run(tmp_path, [event])
    assert batch.rejects.is_empty()
    posting = batch.plan.postings.row(0, named=True)
    assert json.loads(posting["source"])["customer_id"] == nasty
    assert json.loads(posting["metadata"]) == {"note": formula, "q": 'a "quoted" \\ value'}
    assert posting["reference"] == f"invoice:{formula}"


def test_emoji_and_right_to_left_account_names_are_verbatim(tmp_path):
    legs = [{"account": "assets:💰:خزينة", "direction": "debit", "amount": 5, "currency": "JPY"},
            {"account": "income:ü ber \"quotes\" 'x'", "direction": "credit", "amount": 5, "currency": "JPY"}]
    batch = run(tmp_path, [journal("j1", legs=legs), invoice("e2", subscription_id="订阅-١٢٣")])
    assert batch.rejects.is_empty()
    accounts = batch.plan.legs["account"].to_list()
    assert accounts[:2] == ["assets:💰:خزينة", "income:ü ber \"quotes\" 'x'"]
    assert "assets:receivables:订阅-١٢٣" in accounts


def test_every_event_lands_in_exactly_one_outcome(tmp_path):
    events = [invoice(f"e{i}") for i in range(5)] + [invoice("e1"), invoice("e2", amount=1), "{oops", invoice("x", amount=-1)]
    batch = run(tmp_path, events)
    assert_accounted(batch)
    planned = set(batch.plan.postings["seq"]) | set(batch.plan.transitions["seq"]) | set(batch.plan.reversals["seq"])
    rejected = set(batch.rejects["seq"])
    duplicates = set(batch.in_batch_duplicates["seq"])
    assert planned | rejected | duplicates == set(range(len(events)))
    assert not (planned & rejected) and not (planned & duplicates) and not (rejected & duplicates)
