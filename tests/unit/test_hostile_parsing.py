"""Front-end units behind the hostile-file fixes: the nested-key/depth walk, JSON nulls, the safety net."""

from __future__ import annotations

import gzip
import json

import polars as pl
import psycopg
import pytest

from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import prepare as prepare_module
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.readers import MAX_NESTING_DEPTH
from tests.unit.ingest.helpers import FORMATS, assert_accounted, invoice, journal, prepare, run, write


def _nodes(*texts: str, depth: int = 2) -> pl.DataFrame:
    return pl.DataFrame({"row": list(range(len(texts))), "path": ["payload"] * len(texts), "text": list(texts),
                         "depth": [depth] * len(texts)}, schema={"row": pl.Int64, "path": pl.Utf8, "text": pl.Utf8, "depth": pl.Int64})


def _problems(*texts: str, depth: int = 2) -> dict[int, tuple]:
    found = jsontext.nesting_problems(_nodes(*texts, depth=depth), MAX_NESTING_DEPTH)
    return {row: (problem, key, path) for row, problem, key, path in found.iter_rows()}


# -- the walk ------------------------------------------------------------------------------------------

def test_repeated_keys_are_found_at_any_depth_and_only_there():
    found = _problems(
        '{"a":1,"b":{"c":[1,2,{"d":true}]}}',  # fine
        '{"a":{"b":[{"c":1},{"c":1,"c":2}]}}',  # inside the second element of an array
        '{"a":1,"a":1}',  # at the first level
        '{"s":"{\\"k\\":1,\\"k\\":2}","k":[{"k":{"k":1}}]}',  # the same key at different levels, and in a string: fine
        '[{"x":1},{"x":2}]',  # the same key in sibling objects: fine
    )
    assert found == {1: ("repeated_key", '"c"', "payload.a.b[1]"), 2: ("repeated_key", '"a"', "payload")}


def test_depth_limit_is_exact():
    # a value at level 2 holding n nested arrays reaches level 2 + n
    at_limit = "[" * (MAX_NESTING_DEPTH - 2) + "]" * (MAX_NESTING_DEPTH - 2)
    past = "[" * (MAX_NESTING_DEPTH - 1) + "]" * (MAX_NESTING_DEPTH - 1)
    huge = '{"a":' * 5000 + "1" + "}" * 5000
    found = _problems('{"x":' + at_limit + "}", '{"x":' + past + "}", huge)
    assert set(found) == {1, 2}
    assert found[1][0] == found[2][0] == "too_deep"
    assert found[2][2].startswith("payload.a.a.a")


def test_identical_texts_on_many_rows_are_each_reported():
    bad = '{"k":1,"k":2}'
    found = _problems(bad, '{"k":1}', bad, bad)
    assert sorted(found) == [0, 2, 3]


def test_json_null_members_come_back_as_the_text_null():
    entries = jsontext.object_entries(pl.Series(['{"a":null,"b":[null],"c":"null"}']))
    assert entries.select("key", "value").rows() == [("a", "null"), ("b", "[null]"), ("c", '"null"')]


@pytest.mark.parametrize("fmt", FORMATS)
def test_repeated_nested_key_is_malformed_json_in_every_format(tmp_path, fmt):
    bad = invoice("bad", payload={**invoice()["payload"], "x": {"a": 1}})
    path = write(tmp_path, [invoice("good"), bad], fmt)
    # no JSON writer repeats a key: put the repeat into the written file itself
    if fmt == "jsonl":
        path.write_text(path.read_text().replace('{"a": 1}', '{"a": 1, "a": 2}'))
    elif fmt == "csv":
        path.write_text(path.read_text().replace('{""a"": 1}', '{""a"": 1, ""a"": 2}'))
    elif fmt == "parquet":
        frame = pl.read_parquet(path)
        frame.with_columns(pl.col("payload").str.replace('{"a": 1}', '{"a": 1, "a": 2}', literal=True)).write_parquet(path)
    else:
        path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()).replace(b'{"a": 1}', b'{"a": 1, "a": 2}')))
    batch = prepare(tmp_path, [path])
    assert_accounted(batch)
    assert batch.rejects["reason_code"].to_list() == [R.MALFORMED_JSON]
    assert 'the key "a" more than once in payload.x' in batch.rejects["message"][0]
    assert batch.plan.postings["event_id"].to_list() == ["good"]


def test_empty_bound_object_is_invalid_condition(tmp_path):
    legs = [{"account": "assets:cash", "direction": "debit", "amount": 5, "currency": "USD", "conditions": {"available": {}}},
            {"account": "equity:capital", "direction": "credit", "amount": 5, "currency": "USD"}]
    batch = run(tmp_path, [journal("bad", legs=legs), journal("good")])
    assert_accounted(batch)
    assert batch.rejects.select("event_id", "reason_code").rows() == [("bad", R.INVALID_CONDITION)]
    assert batch.plan.postings["event_id"].to_list() == ["good"]


# -- the safety net ------------------------------------------------------------------------------------

def _frame(event_id: str) -> pl.DataFrame:
    event = invoice(event_id)
    return pl.DataFrame({k: [json.dumps(v) if isinstance(v, dict) else str(v)] for k, v in event.items()})


def test_unexpected_error_in_one_source_sets_only_that_source_aside(tmp_path, monkeypatch):
    real = prepare_module.map_events

    def flaky(events, rules, settings):
        if (events["event_id"] == "boom").any():
            raise ValueError("something nobody foresaw")
        return real(events, rules, settings)

    monkeypatch.setattr(prepare_module, "map_events", flaky)
    batch = prepare(tmp_path, [_frame("ok_1"), _frame("boom"), _frame("ok_2")])
    assert_accounted(batch)
    assert batch.plan.postings["event_id"].sort().to_list() == ["ok_1", "ok_2"]
    reject = batch.rejects.row(0, named=True)
    assert batch.rejects.height == 1 and reject["reason_code"] == R.UNREADABLE_FILE and reject["seq"] is None
    assert reject["source_file"] == "frame:1"
    assert "unexpected ValueError (something nobody foresaw)" in reject["message"] and "drop it again" in reject["message"]


def test_unexpected_error_while_reading_a_file_quarantines_it_whole(tmp_path, monkeypatch):
    good = write(tmp_path, [invoice("good")], "jsonl", name="good")
    bad = write(tmp_path, [invoice("bad")], "jsonl", name="bad")
    real = prepare_module.read_path

    def panicking(path, *args, **kwargs):
        if str(path).endswith("bad.jsonl"):
            raise pl.exceptions.PanicException("not yet implemented")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(prepare_module, "read_path", panicking)
    batch = prepare(tmp_path, [bad, good])
    assert batch.counts["unreadable_files"] == 1 and batch.counts["planned"] == 1
    reject = batch.rejects.row(0, named=True)
    assert reject["reason_code"] == R.UNREADABLE_FILE and "PanicException" in reject["message"]
    assert reject["raw"] == b""  # not copied: the quarantine entry points at the file (tests/ingest/test_landing_folder.py)


@pytest.mark.parametrize("error", [psycopg.OperationalError("server closed the connection"), MemoryError()])
def test_errors_that_are_not_about_the_data_are_not_swallowed(tmp_path, monkeypatch, error):
    def failing(*args, **kwargs):
        raise error

    monkeypatch.setattr(prepare_module, "validate_events", failing)
    with pytest.raises(type(error)):
        prepare(tmp_path, [write(tmp_path, [invoice("e1")], "jsonl")])
