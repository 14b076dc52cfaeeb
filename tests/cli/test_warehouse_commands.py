"""``subledger register`` and ``subledger sql``: the published warehouse, read-only, for people and scripts."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.cli.conftest import run_cli
from tests.reports.conftest import BuiltWarehouse


def test_register_of_an_account_has_opening_entries_running_and_closing_balance(home: Path, warehouse: BuiltWarehouse) -> None:
    result = run_cli(home, "register", "assets:receivables:sub_a", "--format", "table", duckdb_path=warehouse.path)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Account assets:receivables:sub_a (debit-normal)") and "major units" in lines[0]
    body = [line.split() for line in lines if line[:4].isdigit() or "balance" in line]
    # opening, 8 entries, closing; the balance runs in major units
    assert body[0][-3:] == ["Opening", "balance", "0.00"]
    assert [row[0] for row in body[1:-1]] == ["2024-01-01", "2024-01-07", "2024-02-01", "2024-02-10", "2024-03-01",
                                              "2024-03-05", "2024-03-05", "2024-03-12"]
    assert [row[-1] for row in body[1:-1]] == ["10.00", "0.00", "10.00", "14.50", "39.50", "35.00", "38.00", "28.00"]
    assert body[-1] == ["Closing", "balance", "52.50", "24.50", "28.00"]  # the period's debits, credits, balance
    # it ends where the trial balance is
    assert warehouse.rows("SELECT balance FROM reports.trial_balance WHERE account = 'assets:receivables:sub_a' "
                          "AND as_of_date = DATE '2024-03-12'") == [(2800,)]


def test_register_of_a_category_over_a_date_range(home: Path, warehouse: BuiltWarehouse) -> None:
    result = run_cli(home, "register", "assets:receivables", "--category", "--from", "2024-03-01", "--to", "2024-03-12",
                     "--currency", "USD", "--format", "json", duckdb_path=warehouse.path)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["category"] == "assets:receivables" and doc["from"] == "2024-03-01" and doc["to"] == "2024-03-12"
    [usd] = doc["currencies"]
    # opening = the category's balance at the end of February; closing = at the 12th (trial balance sums)
    february, twelfth = (warehouse.rows(
        "SELECT sum(balance) FROM reports.trial_balance WHERE account LIKE 'assets:receivables:%' AND currency = 'USD' "
        f"AND as_of_date = DATE '{day}'")[0][0] for day in ("2024-02-29", "2024-03-12"))
    assert (usd["opening"], usd["closing"]) == (february, twelfth) == (2150, 3700)
    assert {line["account"] for line in usd["lines"]} == {"assets:receivables:sub_a", "assets:receivables:sub_b"}
    assert all("2024-03-01" <= line["posting_date"] <= "2024-03-12" for line in usd["lines"])
    running = usd["opening"]
    for line in usd["lines"]:
        running += line["debit"] - line["credit"]
        assert line["balance"] == running
    assert usd["debits"] - usd["credits"] == usd["closing"] - usd["opening"]


def test_register_csv_is_in_major_units_with_the_currency_decimals(home: Path, warehouse: BuiltWarehouse) -> None:
    result = run_cli(home, "register", "revenue", "--category", "--format", "csv", duckdb_path=warehouse.path)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    closing = {r["currency"]: r["balance"] for r in rows if r["description"] == "Closing balance"}
    assert closing == {"JPY": "3000", "KWD": "12.345", "USD": "1252.00"}
    assert warehouse.rows("SELECT sum(balance) FROM reports.trial_balance WHERE top_segment = 'revenue' "
                          "AND currency = 'USD' AND as_of_date = DATE '2024-03-12'") == [(125200,)]
    assert rows[0]["description"] == "Opening balance"


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (["register", "assets:nobody"], 1, "no account is named 'assets:nobody'"),
    (["register", "plans:gold", "--category"], 1, "no category is named 'plans:gold'"),
    (["register", "assets:cash", "--from", "2024-03-05", "--to", "2024-03-01"], 2, "--from 2024-03-05 is after --to"),
    (["register", "assets:cash", "--from", "March"], 2, "'March' is not a date"),
    (["register", "assets:cash", "--format", "xml"], 2, "'xml' is not one of"),
    (["sql", "CREATE TABLE reports.x (a INTEGER)"], 1, "read-only"),
    (["sql", "COPY (SELECT 1) TO '/tmp/subledger-sql-escape.csv'"], 1, "file system operations are disabled"),
    (["sql", "SELECT * FROM read_csv('/etc/passwd')"], 1, "file system operations are disabled"),
    (["sql", "SELEC 1"], 1, "syntax error"),
])
def test_errors_say_what_to_do_with_the_usage_exit_code(home: Path, warehouse: BuiltWarehouse, args, code, fragment) -> None:
    result = run_cli(home, *args, duckdb_path=warehouse.path)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert fragment in result.stderr and result.stdout == ""
    assert not Path("/tmp/subledger-sql-escape.csv").exists()


def test_the_warehouse_is_not_there_yet(home: Path) -> None:
    for args in (["register", "assets:cash"], ["sql", "SELECT 1"]):
        result = run_cli(home, *args, duckdb_path=home / "warehouse.duckdb")
        assert result.exit_code == 1 and "`subledger run`" in result.stderr


def test_sql_answers_as_table_csv_and_json(home: Path, warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    copy = tmp_path / "published.duckdb"
    shutil.copy(warehouse.path, copy)
    query = "SELECT currency, sum(debits) AS debits FROM reports.trial_balance WHERE period = '2024-03' GROUP BY ALL ORDER BY 1"
    table = run_cli(home, "sql", query, "--format", "table", duckdb_path=copy)
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines() == ["currency  debits", "--------  ------", "JPY         4500", "KWD        12345",
                                         "USD       372100", "(3 rows)"]
    as_csv = run_cli(home, "sql", query, "--format", "csv", duckdb_path=copy)
    assert as_csv.stdout == "currency,debits\nJPY,4500\nKWD,12345\nUSD,372100\n"
    as_json = run_cli(home, "sql", query, duckdb_path=copy)  # not a terminal: JSON by default
    assert json.loads(as_json.stdout) == [{"currency": "JPY", "debits": 4500}, {"currency": "KWD", "debits": 12345},
                                          {"currency": "USD", "debits": 372100}]
    # the file is opened read-only: a writer can hold it at the same time, and nothing changed
    with duckdb.connect(str(copy)) as writer:
        writer.execute("SELECT 1")
    assert run_cli(home, "sql", "SELECT count(*) AS n FROM reports.trial_balance", duckdb_path=copy).exit_code == 0
