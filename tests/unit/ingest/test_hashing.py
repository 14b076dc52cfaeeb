"""The content hash: one event, one hash, whatever the format or spelling; any change, another hash."""

from __future__ import annotations

import json

import pytest

from .helpers import FORMATS, invoice, journal, run


def hashes(tmp_path, events, fmt="jsonl"):
    batch = run(tmp_path, events, fmt)
    assert batch.rejects.is_empty(), batch.rejects["message"].to_list()
    return batch.events["content_hash"].to_list()


@pytest.mark.parametrize("event", [invoice("e1", metadata={"z": "1", "a": "2"}), journal("j1")], ids=["invoice", "journal"])
def test_same_event_same_hash_in_every_format(tmp_path, event):
    found = {fmt: hashes(tmp_path / fmt.replace(".", "_"), [event], fmt)[0] for fmt in FORMATS}
    assert len(set(found.values())) == 1, found
    assert len(found["jsonl"]) == 64 and int(found["jsonl"], 16) >= 0


def test_spelling_does_not_change_the_hash(tmp_path):
    base = invoice("e1")
    respelled = dict(reversed(list(base.items())))
    respelled["amount"] = "2900"
    respelled["effective_at"] = "2024-03-01T11:00:00+01:00"
    respelled["recorded_at"] = "2024-03-01t10:00:05.000000z"
    respelled["payload"] = dict(reversed(list(base["payload"].items())))
    escaped = json.dumps(respelled, ensure_ascii=True, indent=2).replace("\n", " ")
    assert hashes(tmp_path, [json.dumps(base)])[0] == hashes(tmp_path / "b", [escaped])[0]


@pytest.mark.parametrize("change", [
    {"amount": 2901}, {"currency": "EUR"}, {"effective_at": "2024-03-01T10:00:01Z"}, {"customer_id": "cus_2"},
    {"metadata": {"region": "us"}}, {"recorded_at": "2024-03-01T10:00:06Z"}, {"recorded_at": None},
    {"payload": {"invoice_id": "inv_2", "plan_id": "pro", "period_start": "2024-03-01", "period_end": "2024-03-31"}},
])
def test_any_content_change_changes_the_hash(tmp_path, change):
    assert hashes(tmp_path, [invoice("e1")])[0] != hashes(tmp_path / "b", [invoice("e1", **change)])[0]


def test_unicode_escapes_hash_like_the_characters(tmp_path):
    event = invoice("e1", customer_id="café ☕")
    plain = json.dumps(event, ensure_ascii=False)
    escaped = json.dumps(event, ensure_ascii=True)
    assert plain != escaped
    assert hashes(tmp_path, [plain])[0] == hashes(tmp_path / "b", [escaped])[0]
