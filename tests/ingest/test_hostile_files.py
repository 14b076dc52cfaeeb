"""Hostile files found by the ingestion audit, each through the real code into a real ledger.

Every file either becomes events with one outcome each (posted, or quarantined with a precise
reason code) or, when it cannot be read at all, one whole-file ``unreadable_file`` entry; never a
traceback, and never at the expense of the other files of the same run or the good events of the
same file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl
import psycopg
from click.testing import CliRunner

from ledger_pipelines.cli import main
from ledger_pipelines.ingest.ingestor import ingest_paths
from tests.ingest.conftest import assert_consistent

HEADER = "event_id,event_type,effective_at,recorded_at,subscription_id,customer_id,amount,currency,payload,metadata"
PAYLOAD = {"invoice_id": "inv_1", "plan_id": "pro", "period_start": "2024-02-01", "period_end": "2024-02-29"}


def _invoice(event_id: str, **changes) -> dict:
    event = {
        "event_id": event_id, "event_type": "invoice.issued", "effective_at": "2024-02-01T10:00:00Z",
        "subscription_id": "sub_1", "customer_id": "cus_1", "amount": 1200, "currency": "USD",
        "payload": {**PAYLOAD, "invoice_id": f"inv_{event_id}"},  # an invoice id names one invoice (reference_conflict)
    }
    event.update(changes)
    return event


def _journal(event_id: str, conditions=None, account: str = "assets:bank:hostile") -> dict:
    """Moves 100 USD out of ``account`` (which starts empty): a condition ``available >= 0`` refuses it."""
    leg = {"account": account, "direction": "credit", "amount": 100, "currency": "USD"}
    if conditions is not None:
        leg["conditions"] = conditions
    return {"event_id": event_id, "event_type": "journal.posted", "effective_at": "2024-02-01T10:00:00Z",
            "payload": {"status": "posted", "legs": [leg, {"account": "expenses:hostile", "direction": "debit",
                                                           "amount": 100, "currency": "USD"}]}}


def _lines(path: Path, events: list) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))
    return path


def _frame(rows: list[dict]) -> pl.DataFrame:
    """Parquet-shaped rows: every envelope column as text, payload as JSON text."""
    return pl.DataFrame([{**r, "amount": str(r["amount"]), "payload": json.dumps(r["payload"])} for r in rows])


def _quarantine(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT source_name, line_no, event_id, reason_code, message, raw, file_path, file_sha256, "
                            "file_bytes FROM ingest.quarantine ORDER BY source_name, line_no").fetchall()
    return {(Path(r[0]).name, r[1]): {"event_id": r[2], "reason_code": r[3], "message": r[4], "raw": bytes(r[5]),
                                      "file": (r[6], r[7], r[8])} for r in rows}


def _posted(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT idempotency_key FROM ledger.transactions").fetchall()}


def _by_name(reports) -> dict:
    return {Path(r.source_name).name: r for r in reports}


# -- 1a: files without events ---------------------------------------------------------------------------

def test_header_only_csv_and_zero_row_parquet_are_empty_batches(ingest_env, ledger_db):
    landing = ingest_env.landing_dir
    (landing / "a_header_only.csv").write_text(HEADER + "\r\n")
    _frame([_invoice("x")]).head(0).write_parquet(landing / "b_no_rows.parquet")
    _frame([_invoice("pq_good")]).write_parquet(landing / "c_good.parquet")
    _lines(landing / "d_good.jsonl", [_invoice("good")])

    result = CliRunner().invoke(main, ["ingest", str(landing), "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"events": 2, "posted": 2, "pending": 0, "duplicate": 0, "quarantined": 0}
    with psycopg.connect(ledger_db.dsn) as conn:
        batches = dict(conn.execute("SELECT source_name, events FROM ingest.batches").fetchall())
    assert {Path(k).name: v for k, v in batches.items()} == {
        "a_header_only.csv": 0, "b_no_rows.parquet": 0, "c_good.parquet": 1, "d_good.jsonl": 1}
    assert _posted(ledger_db.dsn) == {"pq_good", "good"}


# -- 1b: nesting --------------------------------------------------------------------------------------

def test_deeply_nested_payload_field_is_quarantined_per_event(ingest_env, ledger_db, tmp_path):
    # payload is level 2, so "x" with 62 nested arrays ends at level 64 (the limit) and 63 go past it
    deep = _invoice("deep", payload={**PAYLOAD, "invoice_id": "inv_deep", "x": json.loads("[" * 400 + "]" * 400)})
    too_deep = _invoice("too_deep", payload={**PAYLOAD, "invoice_id": "inv_too_deep", "x": json.loads("[" * 63 + "]" * 63)})
    at_limit = _invoice("at_limit", payload={**PAYLOAD, "invoice_id": "inv_at_limit", "x": json.loads("[" * 62 + "]" * 62)})
    deep_extra = json.dumps(_invoice("deep_extra"))[:-1] + ', "extra": ' + "{\"a\":" * 300 + "1" + "}" * 300 + "}"
    path = _lines(tmp_path / "nested.jsonl", [_invoice("good"), deep, too_deep, at_limit, deep_extra])

    report = ingest_paths(ingest_env, [path])[0]

    assert report.as_json() == {"events": 5, "posted": 2, "pending": 0, "duplicate": 0, "quarantined": 3}
    assert report.reasons == {"malformed_json": 3}
    quarantined = _quarantine(ledger_db.dsn)
    assert sorted(line for _, line in quarantined) == [2, 3, 5]
    assert "more than 64 levels deep" in quarantined[("nested.jsonl", 2)]["message"]
    assert "payload.x[0][0]" in quarantined[("nested.jsonl", 3)]["message"]
    assert "(at extra.a.a" in quarantined[("nested.jsonl", 5)]["message"]
    assert quarantined[("nested.jsonl", 2)]["raw"] == json.dumps(deep).encode()  # kept for fixing and replay
    assert _posted(ledger_db.dsn) == {"good", "at_limit"}


# -- 1c, 1d: Parquet column types ----------------------------------------------------------------------

def test_parquet_binary_event_id_that_is_not_utf8_refuses_only_that_row(ingest_env, ledger_db, tmp_path):
    frame = _frame([_invoice("placeholder_1"), _invoice("placeholder_2")]).with_columns(
        event_id=pl.Series([b"pq_\xff\xfe", b"pq_ok"], dtype=pl.Binary))
    path = tmp_path / "binary_ids.parquet"
    frame.write_parquet(path)

    report = ingest_paths(ingest_env, [path])[0]

    assert report.as_json() == {"events": 2, "posted": 1, "pending": 0, "duplicate": 0, "quarantined": 1}
    reject = _quarantine(ledger_db.dsn)[("binary_ids.parquet", 1)]
    assert reject["reason_code"] == "malformed_json"
    assert "event_id cell is binary data that is not UTF-8" in reject["message"]
    assert b"pq_\\\\xff\\\\xfe" in reject["raw"]  # the bad bytes stay visible in the row's rendering
    assert _posted(ledger_db.dsn) == {"pq_ok"}


def test_parquet_duration_effective_at_is_invalid_effective_at(ingest_env, ledger_db, tmp_path):
    durations = _frame([_invoice("dur_1"), _invoice("dur_2")]).with_columns(
        effective_at=pl.Series([dt.timedelta(days=1), dt.timedelta(hours=5)]))
    durations.write_parquet(tmp_path / "a_duration.parquet")
    _frame([_invoice("pq_good")]).write_parquet(tmp_path / "b_good.parquet")

    reports = _by_name(ingest_paths(ingest_env, [tmp_path]))

    assert reports["a_duration.parquet"].as_json() == {"events": 2, "posted": 0, "pending": 0, "duplicate": 0, "quarantined": 2}
    assert reports["a_duration.parquet"].reasons == {"invalid_effective_at": 2}
    assert "effective_at P1D is neither" in _quarantine(ledger_db.dsn)[("a_duration.parquet", 1)]["message"]
    assert reports["b_good.parquet"].posted == 1
    assert _posted(ledger_db.dsn) == {"pq_good"}


# -- the safety net ---------------------------------------------------------------------------------------

def test_a_file_that_fails_unexpectedly_is_quarantined_whole_and_the_run_goes_on(ingest_env, ledger_db, tmp_path):
    # A struct payload member holding binary that is not UTF-8: no check foresees it, rendering fails.
    broken = pl.DataFrame({"event_id": ["b1"], "event_type": ["invoice.issued"], "effective_at": ["2024-02-01"],
                           "payload": [{"invoice_id": "inv_b1", "blob": b"\xff\xfe"}]})
    broken.write_parquet(tmp_path / "a_broken.parquet")
    _lines(tmp_path / "b_good.jsonl", [_invoice("good_1"), _invoice("good_2")])

    reports = _by_name(ingest_paths(ingest_env, [tmp_path]))

    assert reports["a_broken.parquet"].as_json() == {"events": 1, "posted": 0, "pending": 0, "duplicate": 0, "quarantined": 1}
    assert reports["a_broken.parquet"].reasons == {"unreadable_file": 1}
    entry = _quarantine(ledger_db.dsn)[("a_broken.parquet", None)]
    assert entry["reason_code"] == "unreadable_file"
    assert "unexpected ComputeError" in entry["message"] and "drop it again" in entry["message"]
    broken_bytes = (tmp_path / "a_broken.parquet").read_bytes()
    assert entry["raw"] == b""  # not copied: the entry points at the file
    assert entry["file"] == (str(tmp_path / "a_broken.parquet"), hashlib.sha256(broken_bytes).hexdigest(), len(broken_bytes))
    assert reports["b_good.jsonl"].posted == 2
    assert _posted(ledger_db.dsn) == {"good_1", "good_2"}


# -- 2: repeated keys at any depth, empty bounds ------------------------------------------------------

def test_repeated_key_anywhere_in_an_event_refuses_it(ingest_env, ledger_db, tmp_path):
    repeated_bound = json.dumps(_journal("dup_bound", {"available": {"gte": 0}})).replace('{"gte": 0}', '{"gte": 0, "gte": 0}')
    repeated_balance = json.dumps(_journal("dup_balance", {"available": {"gte": 0}})).replace(
        '{"available": {"gte": 0}}', '{"available": {"gte": 0}, "available": {"gte": 0}}')
    repeated_in_payload = json.dumps(_invoice("dup_payload", payload={**PAYLOAD, "invoice_id": "inv_dup_payload", "x": {"a": 1}})).replace('{"a": 1}', '{"a": 1, "a": 2}')
    repeated_in_extra = json.dumps(_invoice("dup_extra"))[:-1] + ', "extra": [{"k": 1, "k": 1}]}'
    path = _lines(tmp_path / "repeated.jsonl", [repeated_bound, repeated_balance, repeated_in_payload, repeated_in_extra,
                                                 _invoice("good"), _journal("guarded", {"available": {"gte": 0}})])

    report = ingest_paths(ingest_env, [path])[0]

    # the guarded journal is refused by its (single) condition: the account would go negative
    assert report.as_json() == {"events": 6, "posted": 1, "pending": 0, "duplicate": 0, "quarantined": 5}
    assert report.reasons == {"malformed_json": 4, "balance_condition_failed": 1}
    quarantined = _quarantine(ledger_db.dsn)
    assert 'the key "gte" more than once in payload.legs[0].conditions.available' in quarantined[("repeated.jsonl", 1)]["message"]
    assert 'the key "available" more than once in payload.legs[0].conditions' in quarantined[("repeated.jsonl", 2)]["message"]
    assert 'the key "a" more than once in payload.x' in quarantined[("repeated.jsonl", 3)]["message"]
    assert 'the key "k" more than once in extra[0]' in quarantined[("repeated.jsonl", 4)]["message"]
    assert _posted(ledger_db.dsn) == {"good"}
    with psycopg.connect(ledger_db.dsn) as conn:
        moved = conn.execute("SELECT count(*) FROM ledger.entries e JOIN ledger.accounts a USING (account_id) "
                             "WHERE a.code = 'assets:bank:hostile'").fetchone()[0]
    assert moved == 0, "the account never went negative"
    assert_consistent(ledger_db.dsn)


def test_repeated_key_in_a_csv_payload_cell_is_refused(ingest_env, ledger_db, tmp_path):
    payload = '{"invoice_id": "i", "plan_id": "pro", "period_start": "2024-02-01", "period_end": "2024-02-29", "x": {"a": 1, "a": 2}}'
    good = json.dumps(PAYLOAD)
    rows = [f'csv_dup,invoice.issued,2024-02-01T10:00:00Z,,sub_1,cus_1,1200,USD,"{payload.replace(chr(34), chr(34) * 2)}",',
            f'csv_good,invoice.issued,2024-02-01T10:00:00Z,,sub_1,cus_1,1200,USD,"{good.replace(chr(34), chr(34) * 2)}",']
    path = tmp_path / "repeated.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")

    report = ingest_paths(ingest_env, [path])[0]

    assert report.as_json() == {"events": 2, "posted": 1, "pending": 0, "duplicate": 0, "quarantined": 1}
    assert report.reasons == {"malformed_json": 1}
    assert 'the key "a" more than once in payload.x' in _quarantine(ledger_db.dsn)[("repeated.csv", 2)]["message"]
    assert _posted(ledger_db.dsn) == {"csv_good"}


def test_a_condition_that_names_no_bound_is_invalid_condition(ingest_env, ledger_db, tmp_path):
    events = [_journal("empty_bound", {"available": {}}, account="assets:bank:h1"),
              _journal("empty_conditions", {}, account="assets:bank:h2"),
              _journal("null_bound", {"available": None}, account="assets:bank:h3"),
              _journal("null_amount", {"available": {"gte": None}}, account="assets:bank:h4"),
              _journal("mixed", {"posted": {"gte": -1000}, "available": {}}, account="assets:bank:h5"),
              _journal("no_conditions", account="assets:bank:h6"), _invoice("good")]
    path = _lines(tmp_path / "bounds.jsonl", events)

    report = ingest_paths(ingest_env, [path])[0]

    assert report.as_json() == {"events": 7, "posted": 2, "pending": 0, "duplicate": 0, "quarantined": 5}
    assert report.reasons == {"invalid_condition": 5}
    quarantined = {v["event_id"]: v["message"] for v in _quarantine(ledger_db.dsn).values()}
    assert '"available" names no bound' in quarantined["empty_bound"]
    assert "names no bound" in quarantined["empty_conditions"]
    assert "must map an operator to an amount" in quarantined["null_bound"]
    assert "the bound null is not an integer" in quarantined["null_amount"]
    assert '"available" names no bound' in quarantined["mixed"]
    assert _posted(ledger_db.dsn) == {"no_conditions", "good"}


# -- 3: unknown top-level fields that are null -----------------------------------------------------------

def test_an_unknown_top_level_null_field_is_kept_in_metadata(ingest_env, ledger_db, tmp_path):
    path = _lines(tmp_path / "extras.jsonl", [_invoice("with_null", foo=None), _invoice("with_two", foo=None, bar="x"),
                                              _invoice("with_false", foo=False)])

    report = ingest_paths(ingest_env, [path])[0]

    assert report.as_json() == {"events": 3, "posted": 3, "pending": 0, "duplicate": 0, "quarantined": 0}
    with psycopg.connect(ledger_db.dsn) as conn:
        metadata = dict(conn.execute("SELECT idempotency_key, metadata FROM ledger.transactions").fetchall())
    assert metadata == {"with_null": {"foo": "null"}, "with_two": {"bar": "x", "foo": "null"}, "with_false": {"foo": "false"}}
