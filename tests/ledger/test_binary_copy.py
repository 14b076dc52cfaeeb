"""The binary COPY encoder writes exactly the bytes Postgres itself sends for the same rows.

The ledger writes its transactions and entries with :func:`ledger_pipelines.postgres.copy.copy_binary`;
a wrong byte there would store a wrong amount, time or id. The proof here is byte-for-byte: the
rows are COPYed in through the encoder, COPYed back out by Postgres in the binary format, and the
two streams must be identical. Values are picked at the edges (NULLs, empty and multi-byte text,
CSV-hostile characters, times before 2000 and at the ends of the calendar, 64-bit extremes).
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import psycopg
import pytest

from ledger_pipelines.postgres.binary_copy import SIGNATURE, TRAILER, encode_rows
from ledger_pipelines.postgres.copy import array_literal, copy_binary, small_array_literal

COLUMN_TYPES = {"id": "uuid", "label": "text", "doc": "jsonb", "at": "timestamptz", "amount": "int8", "no": "int4"}
DDL = "CREATE TEMP TABLE copied (id uuid, label text, doc jsonb, at timestamptz, amount bigint, no integer)"


def edge_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": ["0190a2b4-1c2d-7e3f-8a9b-0c1d2e3f4a5b", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", None,
                   "00000000-0000-0000-0000-000000000000", "c0ffee00-dead-beef-0000-0123456789ab"],
            "label": ["plain", "", None, 'comma, "quote"\nnew line\\back\tslash', "héllo ✓ 日本 🙂"],
            # jsonb as Postgres prints it back, so the two streams can be compared byte for byte
            "doc": ['{"a": 1}', "{}", None, '{"k": "v, \\"q\\"", "n": [1, 2]}', '{"yen": 1000000}'],
            "at": [datetime(2024, 1, 1, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), None,
                   datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)],
            "amount": [1, 2**63 - 1, None, -(2**63), 0],
            "no": [0, 2**31 - 1, None, -(2**31), 7],
        },
        schema={"id": pl.Utf8, "label": pl.Utf8, "doc": pl.Utf8, "at": pl.Datetime("us", "UTC"),
                "amount": pl.Int64, "no": pl.Int32},
    )


def test_the_encoder_writes_what_postgres_itself_sends(ledger_db):
    frame = edge_rows()
    with psycopg.connect(ledger_db.dsn) as conn:
        conn.execute(DDL)
        assert copy_binary(conn, "copied", frame, COLUMN_TYPES) == frame.height
        sent_back = bytearray()
        with conn.cursor().copy(f"COPY copied ({', '.join(COLUMN_TYPES)}) TO STDOUT (FORMAT binary)") as copy:
            for block in copy:
                sent_back += block
        stored = conn.execute("SELECT id::text, label, doc::text, at, amount, no FROM copied").fetchall()
    assert bytes(sent_back) == SIGNATURE + bytes(encode_rows(frame, COLUMN_TYPES)) + TRAILER
    assert stored[0] == ("0190a2b4-1c2d-7e3f-8a9b-0c1d2e3f4a5b", "plain", '{"a": 1}', datetime(2024, 1, 1, tzinfo=UTC), 1, 0)
    assert stored[2] == (None,) * 6
    assert stored[3][1] == 'comma, "quote"\nnew line\\back\tslash' and stored[3][4] == -(2**63)
    assert stored[4][1] == "héllo ✓ 日本 🙂"


def test_a_large_frame_goes_through_in_several_chunks(ledger_db, monkeypatch):
    monkeypatch.setattr("ledger_pipelines.postgres.copy.COPY_CHUNK_ROWS", 1_000)
    frame = pl.concat([edge_rows()] * 700)
    with psycopg.connect(ledger_db.dsn) as conn:
        conn.execute(DDL)
        copy_binary(conn, "copied", frame, COLUMN_TYPES)
        count, total = conn.execute("SELECT count(*), sum(no::bigint) FROM copied").fetchone()
    assert count == 3_500
    assert total == 700 * (0 + (2**31 - 1) - 2**31 + 7)


@pytest.mark.parametrize(
    ("column", "value", "kind", "error", "says"),
    [
        ("id", "0190a2b4-1c2d-7e3f-8a9b-0c1d2e3f4a5", "uuid", ValueError, "not a uuid"),  # 35 characters
        ("id", "0190a2b4-1c2d-7e3f-8a9b-0c1d2e3f4a5g", "uuid", ValueError, "not a uuid"),  # not hex
        ("id", "0190a2b4x1c2d-7e3f-8a9b-0c1d2e3f4a5b", "uuid", ValueError, "not a uuid"),  # no dash
        ("no", 2**31, "int4", ValueError, "does not fit a Postgres int4"),  # does not fit: never wrapped
        ("at", "2024-01-01T00:00:00Z", "timestamptz", TypeError, "needs a Datetime"),  # text is not a time
        ("amount", 1.5, "int8", TypeError, "needs an integer"),  # money is never a float
    ],
)
def test_a_value_that_does_not_fit_its_type_is_refused_not_guessed(column, value, kind, error, says):
    frame = pl.DataFrame({column: [value]})
    with pytest.raises(error, match=says):
        encode_rows(frame, {column: kind})


def test_an_array_literal_reads_back_as_the_very_values(ledger_db):
    """The bulk path passes its 20k account ids and codes as one array literal: every value, however
    hostile to the literal syntax, must reach Postgres unchanged, and NULL as NULL."""
    values = pl.Series(["plain", "", None, 'quote " and \\ backslash', "{braces},comma", " spaced ", "NULL", "héllo ✓ 日本 🙂",
                        "tab\tnew\nline"])
    with psycopg.connect(ledger_db.dsn) as conn:
        back = conn.execute("SELECT %s::text[]", [array_literal(values)]).fetchone()[0]
        empty = conn.execute("SELECT cardinality(%s::uuid[])", [array_literal(pl.Series([], dtype=pl.Utf8))]).fetchone()[0]
    assert back == values.to_list()
    assert empty == 0


def test_a_small_array_literal_reads_back_as_the_very_values(ledger_db):
    """Ledger.post sends a posting's leg arrays as literals built in Python: the same hostile texts,
    integers at the edges of bigint, and None for a NULL array, not an empty one."""
    texts = ["plain", "", None, 'quote " and \\ backslash', "{braces},comma", " spaced ", "NULL", "héllo ✓ 日本 🙂",
             "tab\tnew\nline"]
    amounts = [1, -(2**63), 2**63 - 1, None]
    with psycopg.connect(ledger_db.dsn) as conn:
        back_texts, back_amounts, nothing, empty = conn.execute(
            "SELECT %s::text[], %s::bigint[], %s::text[], cardinality(%s::integer[])",
            [small_array_literal(texts), small_array_literal(amounts), small_array_literal(None), small_array_literal([])],
        ).fetchone()
    assert back_texts == texts
    assert back_amounts == amounts
    assert nothing is None
    assert empty == 0


@pytest.mark.parametrize("values", [
    ["assets:cash", "revenue:pro plan", "", "NULL", "{braces},comma", "héllo ✓ 🙂", " spaced "],  # nothing to escape
    ["assets:cash", 'quote " here'], ["back\\slash", "x"], ['","', "y"],  # one to escape: every element quoted
    [1, -(2**63), 2**63 - 1, 0],  # integers only
    [True, 1],  # a bool is not an integer here: quoted as its text
])
def test_each_kind_of_small_array_reads_back_as_the_very_values(ledger_db, values):
    """The fast paths of small_array_literal (texts with nothing to escape, integers only) and its
    general one give the same array."""
    cast = "bigint[]" if all(type(v) is int for v in values) else "text[]"
    with psycopg.connect(ledger_db.dsn) as conn:
        back = conn.execute(f"SELECT %s::{cast}", [small_array_literal(values)]).fetchone()[0]
    assert back == (values if cast == "bigint[]" else [str(v) for v in values])
