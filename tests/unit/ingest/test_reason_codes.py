"""One small hostile input per reason code, in every file format it can be written in.

Each test asserts the reason code and that the message names the offending field, so a
producer reading the quarantine knows what to fix.
"""

from __future__ import annotations

import gzip
import json

import pytest

from ledger_pipelines.ingest import reasons as R

from .helpers import FORMATS, assert_accounted, invoice, journal, only_reject, prepare, run, write

ALL = FORMATS
JSON = ("jsonl", "jsonl.gz")
TYPED = ("jsonl", "jsonl.gz", "parquet")  # formats that carry JSON types (numbers vs strings) at the top level


def rejected(tmp_path, event, fmt, code, *must_mention):
    batch = run(tmp_path, [event], fmt)
    assert_accounted(batch)
    reject = only_reject(batch)
    assert reject["reason_code"] == code, reject["message"]
    for text in must_mention:
        assert text in reject["message"], reject["message"]
    assert reject["raw"], "the raw event is kept for the quarantine"
    assert batch.plan.postings.is_empty() and batch.plan.transitions.is_empty()
    return reject


# -- line-level --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", JSON)
@pytest.mark.parametrize("line, detail", [
    ('{"event_id": "e1", "amount": 100,}', "not valid JSON"),
    ('{"event_id": "e1"', "not valid JSON"),
    ('[1, 2, 3]', "an array"),
    ('"just a string"', "a string"),
    ('{"event_id": "e1", "event_id": "e2"}', '"event_id" more than once'),
])
def test_malformed_json(tmp_path, fmt, line, detail):
    good = invoice("good")
    batch = run(tmp_path, [good, line], fmt)
    assert_accounted(batch)
    reject = only_reject(batch)
    assert reject["reason_code"] == R.MALFORMED_JSON
    assert detail in reject["message"] and "line 2" in reject["message"]
    assert reject["raw"] == line.encode()
    assert batch.plan.postings["event_id"].to_list() == ["good"], "a bad line never stops the good ones"


@pytest.mark.parametrize("fmt", JSON)
def test_line_that_is_not_utf8_is_malformed_json(tmp_path, fmt):
    raw = b'{"event_id": "e\xff\xfe"}'
    data = b"\n".join([json.dumps(invoice("good")).encode(), raw]) + b"\n"
    path = tmp_path / f"x.{fmt}"
    path.write_bytes(gzip.compress(data, mtime=0) if fmt.endswith(".gz") else data)
    batch = prepare(tmp_path, [path])
    reject = only_reject(batch)
    assert reject["reason_code"] == R.MALFORMED_JSON and "UTF-8" in reject["message"]
    assert reject["raw"] == raw
    assert batch.counts["planned"] == 1


def test_malformed_csv_row(tmp_path):
    path = write(tmp_path, [invoice("good")], "csv")
    text = path.read_text() + "bad,invoice.issued,2024-03-01\n"
    path.write_text(text)
    batch = prepare(tmp_path, [path])
    reject = only_reject(batch)
    assert reject["reason_code"] == R.MALFORMED_CSV_ROW
    assert "line 3" in reject["message"] and "3 fields" in reject["message"] and "10" in reject["message"]
    assert reject["raw"] == b"bad,invoice.issued,2024-03-01"
    assert batch.counts["planned"] == 1


@pytest.mark.parametrize("fmt", ALL)
def test_event_too_large(tmp_path, fmt):
    huge = invoice("big", metadata={"note": "x" * (2 << 20)})
    batch = run(tmp_path, [invoice("small"), huge], fmt)
    reject = only_reject(batch)
    assert reject["reason_code"] == R.EVENT_TOO_LARGE
    assert "1 MiB" in reject["message"]
    assert batch.counts["planned"] == 1


@pytest.mark.parametrize("fmt", JSON)
def test_raw_nul_byte_in_a_line(tmp_path, fmt):
    line = '{"event_id": "e\x00", "event_type": "invoice.issued"}'
    batch = run(tmp_path, [line], fmt)
    reject = only_reject(batch)
    assert reject["reason_code"] == R.CONTROL_CHARACTERS
    assert "U+0000" in reject["message"]


# -- whole files --------------------------------------------------------------------------------------

def _file_reject(batch):
    reject = only_reject(batch)
    assert reject["seq"] is None and reject["line_no"] is None
    assert batch.counts["unreadable_files"] == 1
    assert_accounted(batch)
    return reject


def test_unreadable_utf16_file(tmp_path):
    path = tmp_path / "u.jsonl"
    path.write_bytes('{"event_id": "e1"}\n'.encode("utf-16"))
    reject = _file_reject(prepare(tmp_path, [path]))
    assert reject["reason_code"] == R.UNREADABLE_FILE and "UTF-16" in reject["message"] and "u.jsonl" in reject["message"]
    assert reject["raw"] == b""  # the quarantine entry points at the file instead


def test_unreadable_gz_that_is_not_gzip(tmp_path):
    path = tmp_path / "plain.jsonl.gz"
    path.write_text('{"event_id": "e1"}\n')
    reject = _file_reject(prepare(tmp_path, [path]))
    assert reject["reason_code"] == R.UNREADABLE_FILE and "gzip" in reject["message"]


def test_unreadable_truncated_parquet(tmp_path):
    path = write(tmp_path, [invoice()], "parquet")
    path.write_bytes(path.read_bytes()[:-40])
    reject = _file_reject(prepare(tmp_path, [path]))
    assert reject["reason_code"] == R.UNREADABLE_FILE and "Parquet" in reject["message"]


def test_unreadable_csv_without_required_header(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("id,type,when\ne1,invoice.issued,2024-01-01\n")
    reject = _file_reject(prepare(tmp_path, [path]))
    assert reject["reason_code"] == R.UNREADABLE_FILE and "event_id" in reject["message"]


def test_unreadable_csv_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("event_id,event_type,effective_at\ne1,caf\u00e9,2024-01-01\n".encode("latin-1"))
    reject = _file_reject(prepare(tmp_path, [path]))
    assert reject["reason_code"] == R.UNREADABLE_FILE and "UTF-8" in reject["message"]


def test_unreadable_file_does_not_stop_the_others(tmp_path):
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"not gzip")
    good = write(tmp_path, [invoice("e1")], "jsonl", name="good")
    batch = prepare(tmp_path, [bad, good])
    assert batch.counts == {**batch.counts, "events": 2, "planned": 1, "rejected": 1}


# -- event-level --------------------------------------------------------------------------------------

def _legs(first: dict, second: dict | None = None) -> list[dict]:
    return [first, second or {"account": "assets:bank", "direction": "credit", "amount": 5, "currency": "USD"}]


_LEG = {"account": "assets:cash", "direction": "debit", "amount": 5, "currency": "USD"}
_PAYLOAD = {"invoice_id": "inv_1", "plan_id": "pro", "period_start": "2024-03-01", "period_end": "2024-03-31"}
_COLLIDING = invoice(metadata={"region": "eu"})
_COLLIDING["region"] = "us"

# (case id, event, reason code, texts the message must contain, formats the case can be written in)
CASES = [
    ("control-in-id", invoice(customer_id="cus\x1b[31m"), R.CONTROL_CHARACTERS, ["customer_id"], ALL),
    ("nul-in-id", invoice(event_id="evt\u0000"), R.CONTROL_CHARACTERS, ["event_id"], JSON),
    ("control-in-payload", invoice(payload={**_PAYLOAD, "invoice_id": "inv\x07"}), R.CONTROL_CHARACTERS, ["payload.invoice_id"], ALL),
    ("tab-in-metadata", invoice(metadata={"note": "a\tb"}), R.CONTROL_CHARACTERS, ["metadata"], ALL),
    *[(f"missing-{f}", invoice(**{f: None}), R.MISSING_FIELD, [f], ALL)
      for f in ("event_id", "event_type", "effective_at", "customer_id", "subscription_id", "amount", "currency")],
    ("empty-string-is-missing", invoice(customer_id=""), R.MISSING_FIELD, ["customer_id"], ALL),
    ("missing-payload-field", invoice(payload={k: v for k, v in _PAYLOAD.items() if k != "plan_id"}), R.MISSING_FIELD,
     ["payload.plan_id"], ALL),
    ("missing-payload", invoice(payload=None), R.MISSING_FIELD, ["payload"], ALL),
    ("id-as-number", invoice(customer_id=42), R.INVALID_FIELD, ["customer_id", "not a number"], JSON),
    ("id-too-long", invoice(subscription_id="s" * 201), R.INVALID_FIELD, ["subscription_id", "201 characters"], ALL),
    ("event-id-number", invoice(event_id=12345), R.INVALID_EVENT_ID, ["event_id", "a number"], JSON),
    ("event-id-too-long", invoice(event_id="e" * 201), R.INVALID_EVENT_ID, ["event_id", "201 characters"], ALL),
    ("unknown-type", invoice(event_type="invoice.issuedd"), R.UNKNOWN_EVENT_TYPE, ["event_type", "invoice.issuedd"], ALL),
    *[(f"bad-effective-{v}", invoice(effective_at=v), R.INVALID_EFFECTIVE_AT, ["effective_at", v], ALL)
      for v in ("31/03/2024", "2024-02-30", "2024-03-01T25:00:00Z", "2024-03-01T10:00:00+0200", "now")],
    *[(f"no-offset-{v}", invoice(effective_at=v), R.TIMESTAMP_WITHOUT_OFFSET, ["effective_at", "offset"], ALL)
      for v in ("2024-03-01T10:00:00", "2024-03-01 10:00", "2024-03-01T10:00:00.123")],
    *[(f"out-of-range-{v}", invoice(effective_at=v), R.EFFECTIVE_AT_OUT_OF_RANGE, ["effective_at", "range"], ALL)
      for v in ("1969-12-31", "1969-12-31T23:59:59Z", "2035-01-01T00:00:00Z")],
    *[(f"bad-recorded-{v}", invoice(recorded_at=v), R.INVALID_RECORDED_AT, ["recorded_at"], ALL)
      for v in ("yesterday", "2024-03-01T10:00:00", "2024-03-01")],
    *[(f"fraction-{v}", invoice(amount=v), R.AMOUNT_NOT_INTEGER, ["amount", shown], ALL)
      for v, shown in ((100.5, "100.5"), ("12.50", "12.50"), ("1e3", "1e3"), (100.0, "100.0"))],
    ("amount-boolean", invoice(amount=True), R.AMOUNT_NOT_INTEGER, ["amount", "a boolean"], JSON),
    *[(f"overflow-{v}", invoice(amount=v), R.AMOUNT_OUT_OF_RANGE, ["amount", str(v)], ALL) for v in (2**63, -(2**63) - 1, 10**30)],
    *[(f"not-positive-{v}", invoice(amount=v), R.AMOUNT_NOT_POSITIVE, ["amount", str(v)], ALL) for v in (0, -100, -(2**63))],
    *[(f"currency-{c}", invoice(currency=c), R.UNKNOWN_CURRENCY, ["currency", hint], ALL)
      for c, hint in (("usd", "upper case: USD"), ("XXX", "XXX"), ("US$", "US$"), ("EURO", "EURO"))],
    ("payload-not-object", invoice(payload="invoice 42"), R.INVALID_PAYLOAD, ["payload"], ALL),
    ("payload-bad-date", invoice(payload={**_PAYLOAD, "period_start": "March"}), R.INVALID_PAYLOAD,
     ["payload.period_start", "March"], ALL),
    ("payload-wrong-type", invoice(payload={**_PAYLOAD, "invoice_id": 42}), R.INVALID_PAYLOAD, ["payload.invoice_id", "a number"], ALL),
    *[(f"metadata-{i}", invoice(metadata=m), R.INVALID_METADATA, ["metadata", d], ALL)
      for i, (m, d) in enumerate((({"retries": 3}, "strings"), (["eu"], "object"), ({"a": {"b": "c"}}, "strings")))],
    ("metadata-collision", _COLLIDING, R.INVALID_METADATA, ["region"], ALL),
    ("colon-in-id", invoice(subscription_id="a:b"), R.INVALID_ACCOUNT, ["subscription_id", "':'"], ALL),
    ("bidi-in-id", invoice(subscription_id="sub\u202egnp.exe"), R.INVALID_ACCOUNT, ["account", "direction"], ALL),
    ("long-segment", invoice(subscription_id="x" * 70), R.INVALID_ACCOUNT, ["account", "64"], ALL),
    *[(f"leg-account-{i}", journal(legs=_legs({**_LEG, "account": a})), R.INVALID_ACCOUNT, ["payload.legs[0].account", d], ALL)
      for i, (a, d) in enumerate((("assets::cash", "empty segment"), ("cash:in_bank", "not an account type"),
                                  ("assets:\u202ecash", "direction"), (":".join(["assets"] + ["s"] * 32), "33 segments")))],
    ("unbalanced", journal(legs=[{**_LEG, "amount": 970}, {**_LEG, "account": "assets:cash:in_transit", "direction": "credit", "amount": 1000},
                                 {**_LEG, "currency": "EUR"}, {**_LEG, "account": "assets:bank", "direction": "credit", "currency": "EUR"}]),
     R.UNBALANCED, ["payload.legs", "USD", "970", "1000"], ALL),
    ("one-leg", journal(legs=[_LEG]), R.INVALID_LEGS, ["at least two"], ALL),
    ("legs-not-list", journal(legs="not a list"), R.INVALID_LEGS, ["list"], ALL),
    ("leg-direction", journal(legs=_legs({**_LEG, "direction": "up"})), R.INVALID_LEGS, ["payload.legs[0].direction"], ALL),
    ("leg-typo", journal(legs=_legs({"account": "assets:cash", "direction": "debit", "ammount": 5, "currency": "USD"})),
     R.INVALID_LEGS, ["ammount"], ALL),
    ("leg-lock-version", journal(legs=_legs({**_LEG, "lock_version": -1})), R.INVALID_LEGS, ["lock_version"], ALL),
    ("leg-amount-fraction", journal(legs=_legs({**_LEG, "amount": 5.5})), R.AMOUNT_NOT_INTEGER, ["payload.legs[0].amount", "5.5"], ALL),
    *[(f"condition-{i}", journal(legs=_legs({**_LEG, "conditions": c})), R.INVALID_CONDITION, ["payload.legs[0].conditions", d], ALL)
      for i, (c, d) in enumerate((({"available": {">=": 0}}, '">="'), ({"balance": {"gte": 0}}, '"balance"'),
                                  ({"available": {"gte": 1.5}}, "integer"), ("gte 0", "object")))],
]


@pytest.mark.parametrize("case, event, code, mentions, formats", CASES, ids=[c[0] for c in CASES])
def test_reason_code_and_message(tmp_path, case, event, code, mentions, formats):
    """Each hostile event on its own (JSON lines when it can be written so): code and message."""
    fmt = "jsonl" if "jsonl" in formats else formats[0]
    rejected(tmp_path, event, fmt, code, *mentions)


@pytest.mark.parametrize("fmt", ALL)
def test_the_same_cases_in_every_format(tmp_path, fmt):
    """All cases a format can carry, in one file of that format: each gets its reason, the good one posts."""
    cases = [c for c in CASES if fmt in c[4]]
    events = [invoice("good")]
    for number, (case, event, _code, _mentions, _formats) in enumerate(cases):
        event = dict(event)
        if "event_id" in event and isinstance(event["event_id"], str) and case != "nul-in-id":
            event["event_id"] = f"{case}-{number}"[:200] if len(event["event_id"]) <= 200 else event["event_id"]
        events.append(event)
    batch = run(tmp_path, events, fmt)
    assert_accounted(batch)
    got = dict(zip(batch.rejects["line_no"].to_list(), batch.rejects["reason_code"].to_list(), strict=False))
    first_row = 2 if fmt == "csv" else 1  # CSV rows start after the header line
    expected = {first_row + 1 + i: c[2] for i, c in enumerate(cases)}
    assert got == expected
    assert batch.plan.postings["event_id"].to_list() == ["good"]


@pytest.mark.parametrize("field, code", [("customer_id", R.INVALID_FIELD), ("event_id", R.INVALID_EVENT_ID)])
def test_integer_parquet_column_where_text_is_required(tmp_path, field, code):
    """A Parquet int64 column keeps its type: an id column of numbers is refused, not stringified."""
    rejected(tmp_path, invoice(**{field: 42}), "parquet", code, field, "a number")


def test_effective_at_range_is_configurable(tmp_path):
    event = invoice(effective_at="2027-01-01T00:00:00Z")
    assert only_reject(run(tmp_path, [event], "jsonl", SUBLEDGER_MAX_FUTURE_YEARS="1"))["reason_code"] == R.EFFECTIVE_AT_OUT_OF_RANGE
    assert run(tmp_path / "ok", [event], "jsonl").counts["planned"] == 1


@pytest.mark.parametrize("fmt", ALL)
def test_largest_amount_is_exact(tmp_path, fmt):
    batch = run(tmp_path, [invoice(amount=2**63 - 1)], fmt)
    assert batch.rejects.is_empty()
    assert batch.plan.legs["amount"].to_list() == [2**63 - 1, 2**63 - 1]


@pytest.mark.parametrize("fmt", JSON)
def test_amount_exponent_number_is_quoted_exactly(tmp_path, fmt):
    line = '{"event_id":"e1","event_type":"invoice.issued","effective_at":"2024-03-01","subscription_id":"s","customer_id":"c","amount":1e3,"currency":"USD","payload":{"invoice_id":"i","plan_id":"p","period_start":"2024-03-01","period_end":"2024-03-31"}}'
    reject = only_reject(run(tmp_path, [line], fmt))
    assert reject["reason_code"] == R.AMOUNT_NOT_INTEGER
    assert reject["message"].startswith("amount 1e3 "), reject["message"]


@pytest.mark.parametrize("fmt", ALL)
def test_event_id_conflict_in_one_batch(tmp_path, fmt):
    batch = run(tmp_path, [invoice("e1"), invoice("e2"), invoice("e1", amount=3000)], fmt)
    assert_accounted(batch)
    reject = only_reject(batch)
    assert reject["reason_code"] == R.EVENT_ID_CONFLICT and "e1" in reject["message"] and "line" in reject["message"]
    assert reject["seq"] == 2
    assert sorted(batch.plan.postings["event_id"].to_list()) == ["e1", "e2"]
    first = batch.plan.legs.filter(batch.plan.legs["idempotency_key"] == "e1")
    assert first["amount"].to_list() == [2900, 2900], "the first one stands"


@pytest.mark.parametrize("fmt", ALL)
def test_same_event_twice_is_a_duplicate_not_a_reject(tmp_path, fmt):
    batch = run(tmp_path, [invoice("e1"), invoice("e1")], fmt)
    assert batch.rejects.is_empty()
    assert batch.in_batch_duplicates.select("seq", "event_id", "first_seq").rows() == [(1, "e1", 0)]
    assert batch.plan.postings["seq"].to_list() == [0]
    assert_accounted(batch)


def test_reason_message_for_every_front_end_code_was_exercised():
    """Guard: every front-end reason code in the table has a test in this module."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    missing = [code for code in R.FRONT_END_CODES if f"R.{code.upper()}" not in source]
    assert not missing, missing
