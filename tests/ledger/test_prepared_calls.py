"""The posting calls' own way to the server (ledger_pipelines/postgres/prepared.py): prepared per
connection, sent through libpq with text parameters, rows read back binary.

What a caller must not notice: a connection that lost its prepared statements (a pool's
``DISCARD ALL``) still posts, two ``Ledger`` s can share a connection, texts arrive whole (any
Unicode; a NUL is refused by the server, never cut short), and the values the calls send read back
as the very values given.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ledger_pipelines.ledger import balances as reads
from ledger_pipelines.ledger.posting import Ledger
from ledger_pipelines.postgres.prepared import PreparedCall, PreparedCalls, as_text
from tests.ledger.helpers_ledger import snapshot, transfer
from tests.ledger.helpers_sql import connect


def test_placeholders_become_numbered_parameters_in_order_of_first_use():
    call = PreparedCall("SELECT %(a)s::int, %(b)s::text, %(a)s::int + 1")
    assert call.text == "SELECT $1::int, $2::text, $1::int + 1"
    assert call.names == ("a", "b")
    assert call.arguments({"b": None, "a": 7}) == ["7", None]
    assert PreparedCall("SELECT %(a)s::int").name != PreparedCall("SELECT %(a)s::bigint").name


def test_values_are_sent_as_the_text_postgres_reads_for_them():
    at = datetime(2024, 3, 1, 12, 30, 0, 250, tzinfo=timezone(timedelta(hours=2)))
    assert as_text(at) == "2024-03-01T10:30:00.000250+00:00"  # the instant, in UTC
    assert as_text(True) == "true" and as_text(0) == "0" and as_text(-(2**63)) == str(-(2**63))
    assert json.loads(as_text(Jsonb({"plan": "pro", "n": [1, 2]}))) == {"plan": "pro", "n": [1, 2]}
    with pytest.raises(ValueError, match="no time zone"):
        as_text(datetime(2024, 3, 1))
    with pytest.raises(TypeError, match="float is not a parameter type"):
        as_text(1.5)  # money is never a float; nothing else the calls send is one either


def test_every_kind_of_value_reads_back_as_given(ledger_db):
    call = PreparedCall("SELECT %(text)s::text, %(big)s::bigint, %(flag)s::boolean, %(at)s::timestamptz, "
                        "%(doc)s::jsonb, %(texts)s::text[], %(nothing)s::text")
    text = 'é€😀 "quoted" \\ back\tslash'
    at = datetime(2024, 3, 1, 10, 30, 0, 250, tzinfo=UTC)
    with connect(ledger_db.writer_dsn) as conn:
        calls = PreparedCalls(conn)
        calls.prepare(call)
        rows = calls.rows(call, call.arguments({"text": text, "big": 2**63 - 1, "flag": False, "at": at,
                                                "doc": Jsonb({"k": text}), "texts": '{"a b","c"}', "nothing": None}))
    assert rows == [(text, 2**63 - 1, False, at, {"k": text}, ["a b", "c"], None)]


def test_a_connection_that_lost_its_prepared_statements_posts_again(ledger_db):
    with connect(ledger_db.writer_dsn) as conn:
        ledger = Ledger(conn, actor="t")
        assert ledger.post(transfer("before", "assets:cash", "equity:capital", 5)).created
        conn.execute("DISCARD ALL")  # what a pool may run between two borrowers
        assert ledger.post(transfer("after", "assets:cash", "equity:capital", 7)).created
        conn.execute("DEALLOCATE ALL")
        conn.autocommit = False  # the caller switched back: the call runs in its own committed transaction
        assert ledger.post(transfer("in-a-transaction", "assets:cash", "equity:capital", 11)).created
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with connect(ledger_db.reader_dsn) as other:
        assert reads.balance(other, "assets:cash", "USD").posted == 23


def test_two_ledgers_can_share_one_connection(ledger_db):
    with connect(ledger_db.writer_dsn) as conn:
        first, second = Ledger(conn, actor="first"), Ledger(conn, actor="second")
        assert first.post(transfer("one", "assets:cash", "equity:capital", 5)).created
        assert second.post(transfer("two", "assets:cash", "equity:capital", 6)).created  # the statement exists already
        assert first.post(transfer("one", "assets:cash", "equity:capital", 5)).created is False
        assert reads.balance(conn, "assets:cash", "USD").posted == 11


def test_texts_arrive_whole(ledger_db):
    """Any Unicode arrives as given; a NUL, which Postgres text cannot hold, is refused by the server
    with nothing written -- never cut short at it, which would post under another key."""
    text = "ünïcødé € 😀 \"q\" \\"
    with connect(ledger_db.writer_dsn) as conn:
        ledger = Ledger(conn, actor="t")
        posted = ledger.post(transfer(f"key {text}", "assets:cash", "equity:capital", 5, description=text,
                                      reference=text, metadata={"note": text}))
        stored = conn.execute("SELECT idempotency_key, description, reference, metadata FROM ledger.transactions "
                              "WHERE transaction_id = %s", [posted.transaction_id]).fetchone()
        assert stored == (f"key {text}", text, text, {"note": text})

        before = snapshot(ledger_db.dsn)
        for fields in ({"key": "cut\x00here"}, {"description": "cut\x00here"}, {"reference": "cut\x00here"}):
            key = fields.pop("key", "whole-key")
            with pytest.raises(psycopg.DataError):
                ledger.post(transfer(key, "assets:cash", "equity:capital", 5, **fields))
        assert snapshot(ledger_db.dsn) == before
        assert conn.execute("SELECT count(*) FROM ledger.transactions WHERE idempotency_key = 'cut'").fetchone()[0] == 0
