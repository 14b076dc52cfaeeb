"""Readers: line splitting, encodings, blank lines, and what every format hands to validation."""

from __future__ import annotations

import codecs
import json
from datetime import UTC, date

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger_pipelines.ingest import readers

from .helpers import FORMATS, assert_accounted, invoice, prepare, run, write


def test_empty_file_has_no_events(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    batch = prepare(tmp_path, [path])
    assert batch.counts["events"] == 0 and batch.rejects.is_empty() and batch.plan.postings.is_empty()


def test_file_of_blank_lines_has_no_events(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n\n   \n\t\r\n\n")
    batch = prepare(tmp_path, [path])
    assert batch.counts["events"] == 0 and batch.rejects.is_empty()


def test_blank_lines_between_events_are_skipped_and_line_numbers_kept(tmp_path):
    path = tmp_path / "gaps.jsonl"
    path.write_text("\n" + json.dumps(invoice("e1")) + "\n\n  \n" + "{broken\n")
    batch = prepare(tmp_path, [path])
    assert batch.counts["events"] == 2
    assert batch.events["line_no"].to_list() == [2]
    assert batch.rejects["line_no"].to_list() == [5]


def test_crlf_line_endings_and_bom(tmp_path):
    lines = [json.dumps(invoice("e1")), json.dumps(invoice("e2"))]
    path = tmp_path / "windows.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + "\r\n".join(lines).encode() + b"\r\n")
    batch = prepare(tmp_path, [path])
    assert batch.rejects.is_empty() and batch.counts["planned"] == 2
    assert batch.events["raw"].to_list() == [line.encode() for line in lines], "raw keeps the line without CR LF or BOM"


def test_last_line_without_newline(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(invoice("e1")) + "\n" + json.dumps(invoice("e2")))
    assert prepare(tmp_path, [path]).counts["planned"] == 2


def test_whitespace_and_key_order_do_not_matter(tmp_path):
    event = invoice("e1")
    pretty = json.dumps(dict(reversed(list(event.items()))), indent=None, separators=(" , ", " : "))
    batch = run(tmp_path, [pretty], "jsonl")
    assert batch.rejects.is_empty()
    assert batch.plan.legs["account"].to_list() == ["assets:receivables:sub_1", "revenue:subscriptions:pro"]


def test_raw_frame_keeps_json_types_and_exact_digits(tmp_path):
    line = '{"event_id":"e1","amount":9223372036854775808,"currency":"USD","payload":{"q":1e3}}'
    raw = readers.read_jsonl_bytes(line.encode(), "x.jsonl").frame
    row = raw.row(0, named=True)
    assert row["event_id"] == '"e1"' and row["amount"] == "9223372036854775808"
    assert row["payload"].startswith("{") and row["reason_code"] is None


def test_unknown_top_level_fields_become_extras(tmp_path):
    line = json.dumps({**invoice("e1"), "zeta": [1, 2], "alpha": "x"})
    row = readers.read_jsonl_bytes(line.encode(), "x.jsonl").frame.row(0, named=True)
    assert row["extras"] == '{"alpha":"x","zeta":[1,2]}'
    assert sorted(row["extra_keys"]) == ['"alpha"', '"zeta"']


def test_trailing_comma_and_nan_are_not_json(tmp_path):
    lines = ['{"event_id": "e1", "amount": 1,}', '{"event_id": "e2", "amount": NaN}', '{"event_id": "e3", "x": [1,]}']
    frame = readers.read_jsonl_bytes("\n".join(lines).encode(), "x.jsonl").frame
    assert frame["reason_code"].to_list() == ["malformed_json"] * 3


def test_json_values_that_are_not_objects_are_named(tmp_path):
    lines = ["[]", "null", "123", '"text"', "true", "{}", "[1, 2]"]
    frame = readers.read_jsonl_bytes("\n".join(lines).encode(), "x.jsonl").frame
    assert frame["reason_code"].to_list() == ["malformed_json"] * 5 + [None, "malformed_json"]
    messages = frame["message"].to_list()
    for line_no, kind in [(1, "an array"), (2, "null"), (3, "a number"), (4, "a string"), (5, "a boolean"), (7, "an array")]:
        assert f"line {line_no} is {kind}, not a JSON object" in messages[line_no - 1]


def test_a_string_that_looks_like_a_trailing_comma_is_fine(tmp_path):
    batch = run(tmp_path, [invoice("e1", metadata={"note": "a ,} b NaN"})], "jsonl")
    assert batch.rejects.is_empty()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_rows_are_rendered_as_json_lines(tmp_path, fmt):
    event = invoice("e1")
    batch = run(tmp_path, [event], fmt)
    raw = json.loads(batch.events["raw"][0])
    assert raw["event_id"] == "e1" and raw["payload"] == event["payload"] and raw["metadata"] == event["metadata"]
    assert str(raw["amount"]) == "2900"


def test_csv_quoted_newlines_and_line_numbers(tmp_path):
    path = write(tmp_path, [invoice("e1", customer_id="two\nlines"), invoice("e2")], "csv")
    assert path.read_text().count("\n") == 4, "the quoted value spans two physical lines"
    batch = prepare(tmp_path, [path])
    assert batch.rejects["reason_code"].to_list() == ["control_characters"], "a newline inside a value is a control character"
    assert batch.rejects["line_no"].to_list() == [2] and batch.events["line_no"].to_list() == [4]


def test_csv_with_only_a_header(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("event_id,event_type,effective_at\n")
    assert prepare(tmp_path, [path]).counts["events"] == 0


def test_parquet_struct_payload_and_metadata(tmp_path):
    frame = pl.DataFrame({
        "event_id": ["e1", "e2"],
        "event_type": ["invoice.issued", "invoice.issued"],
        "effective_at": ["2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z"],
        "subscription_id": ["s1", "s2"], "customer_id": ["c1", "c2"],
        "amount": [100, 200], "currency": ["USD", "JPY"],
        "payload": [{"invoice_id": "i1", "plan_id": "pro", "period_start": "2024-03-01", "period_end": "2024-03-31", "note": None},
                    {"invoice_id": "i2", "plan_id": "pro", "period_start": "2024-03-01", "period_end": "2024-03-31", "note": "x"}],
        "metadata": [{"region": "eu", "channel": None}, {"region": "jp", "channel": "web"}],
    })
    path = tmp_path / "s.parquet"
    frame.write_parquet(path)
    batch = prepare(tmp_path, [path])
    assert batch.rejects.is_empty()
    assert batch.plan.postings["metadata"].to_list() == ['{"region":"eu"}', '{"channel":"web","region":"jp"}']
    sources = [json.loads(s)["payload"] for s in batch.plan.postings["source"].to_list()]
    assert "note" not in sources[0] and sources[1]["note"] == "x", "null struct members are absent; other keys are kept"


def test_parquet_timestamp_columns(tmp_path):
    from datetime import datetime

    frame = pl.DataFrame({"event_id": ["e1", "e2"], "event_type": ["invoice.issued"] * 2}).with_columns(
        effective_at=pl.Series([datetime(2024, 3, 1, 10, tzinfo=UTC), datetime(2024, 3, 2, 10, tzinfo=UTC)]),
    )
    naive = frame.with_columns(pl.col("effective_at").dt.replace_time_zone(None))
    for name, table, code in (("aware", frame, None), ("naive", naive, "timestamp_without_offset")):
        base = invoice()
        table = table.with_columns(
            subscription_id=pl.lit("s1"), customer_id=pl.lit("c1"), amount=pl.lit(100), currency=pl.lit("USD"),
            payload=pl.lit(json.dumps(base["payload"])),
        )
        path = tmp_path / f"{name}.parquet"
        table.write_parquet(path)
        batch = prepare(tmp_path / name, [path])
        assert batch.rejects["reason_code"].to_list() == ([] if code is None else [code, code])


@pytest.mark.parametrize("fmt", FORMATS)
def test_frames_and_files_account_for_every_event(tmp_path, fmt):
    events = [invoice("e1"), invoice("e2", amount=-1), invoice("e1")]
    batch = run(tmp_path, events, fmt)
    assert_accounted(batch)
    assert batch.counts == {**batch.counts, "events": 3, "planned": 1, "rejected": 1, "duplicates": 1}


def test_outbox_style_frame_of_text(tmp_path):
    event = invoice("e1")
    frame = pl.DataFrame({k: [v if isinstance(v, str) else json.dumps(v)] for k, v in event.items()})
    batch = prepare(tmp_path, [frame])
    assert batch.rejects.is_empty() and batch.plan.legs["amount"].to_list() == [2900, 2900]
    assert batch.rejects.is_empty() and batch.events["source_file"].to_list() == ["frame:0"]


def test_parquet_dictionary_columns_and_date64_give_the_same_event_as_jsonl(tmp_path):
    event = invoice("pq_1", effective_at="2024-03-01")
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table({
        "event_id": pa.array([event["event_id"]]).dictionary_encode(),
        "event_type": pa.array([event["event_type"]]).dictionary_encode(),
        "effective_at": pa.array([date(2024, 3, 1)], type=pa.date64()),
        "recorded_at": pa.array([event["recorded_at"]]),
        "subscription_id": pa.array([event["subscription_id"]]),
        "customer_id": pa.array([event["customer_id"]]),
        "amount": pa.array([event["amount"]], type=pa.int64()),
        "currency": pa.array([event["currency"]]).dictionary_encode(),
        "payload": pa.array([json.dumps(event["payload"])]).dictionary_encode(),
        "metadata": pa.array([json.dumps(event["metadata"])]).dictionary_encode(),
    }), path)
    from_parquet = prepare(tmp_path, [path])
    from_jsonl = run(tmp_path, [event], "jsonl")
    assert from_parquet.rejects.is_empty(), from_parquet.rejects.select("reason_code", "message").to_dicts()
    assert from_parquet.events["content_hash"].to_list() == from_jsonl.events["content_hash"].to_list()
