"""Pair tests: the rules SQL needs, in Postgres functions (sql/schema/functions/), agree with their one
Python definition (ledger_pipelines.accounting.accounts) on the same random inputs.

* the account-code rule: ``ledger.is_valid_account_code`` = ``account_code_problem(...) is None``;
* account types: ``ledger.is_valid_account_type`` = ``account_type_problem(...) is None``;
* type -> normal balance: ``ledger.normal_balance_of`` = ``normal_balance_of`` (NULL where Python
  refuses the code's top-level segment);
* an entry's state as of an instant (R4), which no Python code needs: ``ledger.entry_state`` = the
  warehouse's DuckDB macro ``entry_state`` (sql/warehouse/macros.sql).

Postgres regular expressions have no Unicode classes, so the SQL rule lists the refused code points;
the first test regenerates that list from Python's unicodedata and compares it with the file.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger_pipelines.accounting.accounts import (
    BAD_CODE_CHARACTERS,
    account_code_problem,
    account_type_problem,
    normal_balance_of,
)
from ledger_pipelines.accounting.errors import InvalidTransaction
from ledger_pipelines.ledger.accounts import load_account_types
from ledger_pipelines.paths import read_sql, sql_dir

# Characters the rule is about, mixed into random text so that most examples hit a boundary.
TRICKY = [
    "\u200b", "\u00ad", "\ufeff", "\u2060", "\u200e", "\u202e", "\u2066", "\u0301", "\u00e9", "\u212b",
    "\ue000", "\U000f0000", "\u0378", "\U000e0001", "\u2028", "\u2029", "\x1f", "\x7f", "\x85", "\u3000", " ",
    "\u00a0", "\U0001f642", "\u73b0", "\u0643", "A", "Z", ":", "'", '"', "\\",
]
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(TRICKY),
        st.characters(codec="utf-8", exclude_characters="\x00"),  # Postgres text holds no NUL, no surrogate
        st.sampled_from("abcdefghijklmnopqrstuvwxyz_0123456789"),
    ),
    max_size=80,
)
CODES = st.one_of(
    TEXT,
    st.lists(TEXT, min_size=1, max_size=34).map(":".join),
    st.lists(st.text(alphabet="abc", min_size=1, max_size=70), min_size=1, max_size=34).map(":".join),  # the limits
)
TYPES = ["assets", "expenses", "liabilities", "equity", "revenue", "income"]
PAIR_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def sql_answers(dsn: str, function: str, values: list[str]) -> list:
    with psycopg.connect(dsn) as conn:
        return [row[0] for row in conn.execute(f"SELECT {function}(v) FROM unnest(%s::text[]) WITH ORDINALITY AS u(v, i) "
                                               "ORDER BY i", [values]).fetchall()]


def refused_code_points_in_sql() -> set[int]:
    """The code points of the bracket expression ``code !~ ('[...]')`` of the SQL rule."""
    text = (sql_dir() / "schema" / "functions" / "ledger.is_valid_account_code.sql").read_text()
    block = text[text.index("code !~ (") : text.index(")", text.index("code !~ ("))]
    expression = "".join(re.findall(r"'([^']*)'", block))
    assert expression.startswith("[") and expression.endswith("]"), expression[:40]
    points: set[int] = set()
    for first, last in re.findall(r"\\[uU]([0-9A-F]+)(?:-\\[uU]([0-9A-F]+))?", expression[1:-1]):
        points.update(range(int(first, 16), int(last or first, 16) + 1))
    return points


def test_the_sql_rule_refuses_exactly_the_code_points_python_refuses():
    # The Python rule is a Polars regular expression, whose Unicode tables are newer than the
    # interpreter's unicodedata (U+13440 is assigned in one and not the other): the SQL list is
    # compared with what the expression itself refuses. NUL and surrogates fit in no text value.
    points = [cp for cp in range(1, sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]
    refused = pl.Series([chr(cp) for cp in points]).str.contains(BAD_CODE_CHARACTERS)
    python = {cp for cp, bad in zip(points, refused.to_list(), strict=True) if bad}
    assert refused_code_points_in_sql() == python


@PAIR_SETTINGS
@given(codes=st.lists(CODES, min_size=1, max_size=40))
@example(codes=["\U00013440", "assets:\U00013440", "assets:cafe\u0301", "assets:caf\u00e9", "assets:\u200bcash", "a" * 64, "a" * 65, ":".join("a" * 32),
                ":".join("a" * 33), "", "assets:", "assets::x", "assets:\u0378", "assets:\U000e0001"])
def test_account_codes_sql_and_python_agree(ledger_db, codes):
    assert sql_answers(ledger_db.reader_dsn, "ledger.is_valid_account_code", codes) == [
        account_code_problem(code) is None for code in codes]


@PAIR_SETTINGS
@given(tops=st.lists(st.one_of(TEXT, st.sampled_from(TYPES + ["Equity", "ASSETS", "assets:x", "plan\u200b"])), min_size=1,
                     max_size=40))
def test_account_types_sql_and_python_agree(ledger_db, tops):
    assert sql_answers(ledger_db.reader_dsn, "ledger.is_valid_account_type", tops) == [
        account_type_problem(top) is None for top in tops]


def python_normal_balance(code: str, types: dict[str, str]) -> str | None:
    try:
        return normal_balance_of(code, types)
    except InvalidTransaction:
        return None


@pytest.fixture
def account_types(ledger_db) -> dict[str, str]:
    with psycopg.connect(ledger_db.dsn) as conn:  # one configured type besides the built-in ones
        conn.execute("INSERT INTO ledger.account_types VALUES ('contra_assets', 'credit')")
        return load_account_types(conn)


@PAIR_SETTINGS
@given(codes=st.lists(st.tuples(st.sampled_from(TYPES + ["contra_assets", "Assets", "x"]), TEXT).map(":".join), min_size=1,
                      max_size=40))
def test_normal_balances_sql_and_python_agree(ledger_db, account_types, codes):
    assert sql_answers(ledger_db.reader_dsn, "ledger.normal_balance_of", codes) == [
        python_normal_balance(code, account_types) for code in codes]


# Instants on a few seconds, so that equal instants (the boundary: posted *at* the instant) are common.
MOMENTS = st.integers(0, 6).map(lambda s: datetime(2024, 3, 1, tzinfo=UTC) + timedelta(seconds=s))
STATES = st.tuples(st.sampled_from(["pending", "posted", "archived", "other"]), st.none() | MOMENTS, st.none() | MOMENTS,
                   st.none() | MOMENTS)


@PAIR_SETTINGS
@given(rows=st.lists(STATES, min_size=1, max_size=40))
@example(rows=[("posted", datetime(2024, 3, 1, tzinfo=UTC), None, datetime(2024, 3, 1, tzinfo=UTC)),
               ("archived", None, datetime(2024, 3, 1, 0, 0, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))])
def test_entry_states_postgres_and_duckdb_agree(ledger_db, rows):
    columns = [list(column) for column in zip(*rows, strict=True)]
    with psycopg.connect(ledger_db.reader_dsn) as conn:
        postgres = [r[0] for r in conn.execute(
            "SELECT ledger.entry_state(s, p, a, i) FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[], "
            "%s::timestamptz[]) WITH ORDINALITY AS u(s, p, a, i, n) ORDER BY n", columns).fetchall()]
    with duckdb.connect() as duck:
        duck.execute(read_sql("warehouse/macros.sql"))
        frame = pl.DataFrame(rows, schema={"s": pl.String, "p": pl.Datetime("us", "UTC"), "a": pl.Datetime("us", "UTC"),
                                           "i": pl.Datetime("us", "UTC")}, orient="row").with_row_index("n")
        duck.register("states", frame.to_arrow())
        warehouse = [r[0] for r in duck.execute("SELECT entry_state(s, p, a, i) FROM states ORDER BY n").fetchall()]
    assert postgres == warehouse
    assert set(postgres) <= {"pending", "posted", "archived"}
