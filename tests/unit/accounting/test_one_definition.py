"""Each accounting rule has one definition per language (docs/architecture.md, "Where each rule lives").

Past fixes were often one copy of a rule catching up with another (review 2.3). These checks fail
when a tell-tale of a rule appears in production code outside the module or macro file that owns
it, so that a new copy is noticed when it is written, not when it diverges.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PYTHON = sorted((ROOT / "ledger_pipelines").rglob("*.py"))
WAREHOUSE_SQL = sorted((ROOT / "sql" / "warehouse").rglob("*.sql"))
LEDGER_SQL = sorted((ROOT / "sql" / "ledger").rglob("*.sql")) + sorted((ROOT / "sql" / "schema").rglob("*.sql"))
DBT = sorted((ROOT / "dbt_project" / "models").rglob("*.sql")) + sorted((ROOT / "dbt_project" / "macros").rglob("*.sql"))

# (what, files to search, pattern, the one file allowed to hold it)
RULES = [
    ("account-code rule", PYTHON, r"unicodedata|MAX_SEGMENTS\s*=|MAX_SEGMENT_LENGTH\s*=|BAD_CODE_CHARACTERS\s*=|\\p\{Cf\}",
     "ledger_pipelines/accounting/accounts.py"),
    ("account type -> normal balance", PYTHON, r"replace_strict\([^)]*account_types|split\(\":\", 1\)\[0\]\]",
     "ledger_pipelines/accounting/accounts.py"),
    ("posted/pending/available", PYTHON, r"posted_debits - self\.posted_credits|then\(debits - credits\)|\bpd - pc\b",
     "ledger_pipelines/accounting/balances.py"),
    ("instant -> reporting day", PYTHON, r"convert_time_zone\([^)]*\)\.dt\.date\(\)|astimezone\([^)]*\)\.date\(\)",
     "ledger_pipelines/accounting/calendar.py"),
    ("day -> instant", PYTHON, r"datetime\.combine\(|non_existent=|ambiguous=", "ledger_pipelines/accounting/calendar.py"),
    ("time-text parsing", PYTHON, r"DATE_TEXT\s*=|TIMESTAMP_WITH_OFFSET\s*=|\.str\.to_datetime\(|\.str\.to_date\(",
     "ledger_pipelines/accounting/calendar.py"),
    ("minor units", PYTHON, r"MINOR_UNITS\s*[:=]|divmod\(", "ledger_pipelines/accounting/money.py"),
    ("posted/pending/available (DuckDB)", WAREHOUSE_SQL, r"'debit' THEN (pd|qd|pc|qc)\b|normal_balance WHEN 'debit'",
     "sql/warehouse/macros.sql"),
    ("instant -> day, day -> instant (DuckDB)", WAREHOUSE_SQL, r"\btimezone\(", "sql/warehouse/macros.sql"),
    ("days before the start date (DuckDB)", WAREHOUSE_SQL, r"greatest\([^()]*\$?\bstart\)", "sql/warehouse/macros.sql"),
    ("amount signed by a normal balance", PYTHON, r"def signed_amount|sign = 1 if|== \"debit\" else -1|'debit' THEN debit - credit",
     "ledger_pipelines/accounting/balances.py"),
    ("entry state as of an instant (DuckDB)", WAREHOUSE_SQL, r"status = 'posted' AND [a-z_.]*(posted_at|d_move) <=",
     "sql/warehouse/macros.sql"),
    ("entry state as of an instant (Postgres)", LEDGER_SQL, r"status = 'posted' AND [a-z_.]*(posted_at|moved_at) <=",
     "sql/schema/functions/ledger.entry_state.sql"),
    # lock_versions and lock_version hold it twice in their file (why: its comments), kept equal by
    # tests/ledger/test_posting_api.py::test_lock_versions_and_lock_version_agree
    ("an account's lock_version (Postgres)", LEDGER_SQL, r"sum\([a-z_.]*version\)", "sql/schema/functions/ledger.lock_version.sql"),
    ("a partition's name (Postgres)", LEDGER_SQL, r"'entries_' \|\|", "sql/schema/functions/ledger.ensure_entry_partitions.sql"),
]

# dbt reads what the warehouse computed: no day conversion, no payload or reference parsing, no
# setting read from the environment (DAGSTER_DBT_CLI is dagster-dbt's flag that it runs the build,
# which the metadata post-hook asks, not a setting).
DBT_FORBIDDEN = r"\btimezone\(|json_transform|json_extract|->>|'payment:'|env_var\((?!'DAGSTER_DBT_CLI')"


def _hits(files: list[Path], pattern: str, allowed: str | None) -> list[str]:
    found = []
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        if relative == allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(pattern, line):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize(("what", "files", "pattern", "owner"), RULES, ids=[r[0] for r in RULES])
def test_a_rule_is_written_only_where_it_lives(what, files, pattern, owner):
    assert (ROOT / owner).is_file()
    assert _hits([ROOT / owner], pattern, None), f"the pattern of {what} no longer finds its own definition: update it"
    assert _hits(files, pattern, owner) == [], f"{what} is defined in {owner}: call it instead of writing it again"


def test_dbt_reads_what_the_warehouse_computed():
    assert _hits(DBT, DBT_FORBIDDEN, None) == []


def test_the_accounting_package_imports_no_database_or_dagster():
    """accounting/ is pure (Polars and the standard library): every package may import it."""
    probe = ("import sys, ledger_pipelines.accounting.accounts, ledger_pipelines.accounting.balances, "
             "ledger_pipelines.accounting.calendar, ledger_pipelines.accounting.money, ledger_pipelines.accounting.errors; "
             "print(sorted(m for m in ('psycopg', 'duckdb', 'dagster', 'pyarrow', 'pandera') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"
