"""``subledger demo`` and ``subledger run`` as a user runs them: real processes on a fresh
SUBLEDGER_HOME with its own embedded Postgres, the Postgres-backed Dagster instance, DuckDB and dbt.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import psycopg
import pytest

SUBLEDGER = str(Path(sys.executable).parent / "subledger")

pytestmark = pytest.mark.slow


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUBLEDGER_", "DAGSTER_"))}
    env["SUBLEDGER_HOME"] = str(home)
    env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    return env


def _subledger(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SUBLEDGER, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo_home() -> Iterator[tuple[Path, dict[str, str], subprocess.CompletedProcess[str]]]:
    """A fresh home on which `subledger demo` (small sample) has run once."""
    home = Path(tempfile.mkdtemp(prefix="subledger-demo-"))
    home.chmod(0o755)
    env = _environment(home)
    try:
        result = _subledger(env, "demo", "--subscriptions", "25", "--months", "3", "--seed", "7")
        yield home, env, result
    finally:
        _subledger(env, "down", timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def test_demo_runs_everything_and_prints_where_to_look(demo_home):
    home, env, result = demo_home
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    assert "nets to zero in every currency" in out
    assert "MRR " in out and "subledger dev" in out
    assert str(home / "reports") in out
    # the reports were exported per period, in the three formats
    trial_balance = home / "reports" / "trial_balance"
    periods = sorted(p.stem for p in trial_balance.glob("*.parquet"))
    assert periods, f"no trial balance exports in {trial_balance}"
    assert {p.suffix for p in trial_balance.iterdir()} >= {".csv", ".parquet", ".xlsx"}
    # the published warehouse agrees with the ledger: the trial balance nets to zero per currency
    # and its latest balances equal the ledger's posted balances from Postgres
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        nets = con.execute(
            "SELECT currency, sum(debits) - sum(credits) FROM reports.trial_balance "
            "WHERE as_of_date = (SELECT max(as_of_date) FROM reports.trial_balance) GROUP BY currency"
        ).fetchall()
        assert nets and all(net == 0 for _, net in nets)
        latest = dict(((a, c), b) for a, c, b in con.execute(
            "SELECT account, currency, balance FROM reports.trial_balance "
            "WHERE as_of_date = (SELECT max(as_of_date) FROM reports.trial_balance)"
        ).fetchall())
    up = _subledger(env, "up", "--json", timeout=120)
    reader = json.loads(up.stdout)["reader_dsn"]
    with psycopg.connect(reader) as conn:
        ledger = {
            (a, c): int(p) for a, c, p in conn.execute(
                "SELECT a.code, b.currency, CASE a.normal_balance WHEN 'debit' THEN b.posted_debits - b.posted_credits "
                "ELSE b.posted_credits - b.posted_debits END FROM ledger.balances b JOIN ledger.accounts a USING (account_id) "
                "WHERE b.posted_debits <> 0 OR b.posted_credits <> 0"
            ).fetchall()
        }
        quarantined = conn.execute("SELECT count(*) FROM ingest.quarantine").fetchone()[0]
    assert latest == ledger
    assert quarantined > 0  # the sample's deliberately bad events were kept, not lost


def _latest_snapshot_day(home: Path) -> date:
    """The last day the published warehouse's snapshots cover (the pipeline builds through today)."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("SELECT last_day FROM warehouse_meta.builds WHERE product = 'account_snapshots'").fetchone()[0]


def test_run_again_is_up_to_date_and_demo_again_posts_nothing(demo_home):
    home, env, _ = demo_home
    up = _subledger(env, "up", "--json", timeout=120)
    reader = json.loads(up.stdout)["reader_dsn"]

    def counts() -> tuple[int, int]:
        with psycopg.connect(reader) as conn:
            return conn.execute("SELECT (SELECT count(*) FROM ledger.transactions), (SELECT count(*) FROM ledger.entries)").fetchone()

    before = counts()
    built_through = _latest_snapshot_day(home)
    again = _subledger(env, "run")
    today = datetime.now(UTC).date()  # the demo's time zone (SUBLEDGER_TIMEZONE unset)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "ledger/posted_batches: up to date" in again.stderr
    if built_through == today:
        assert re.search(r"^\[2/2\] ledger/outbox_batches, .* more: up to date$", again.stderr, re.MULTILINE), again.stderr
    else:  # the calendar day turned since the first run: exactly the new day is due
        assert "stale: warehouse/account_balance_snapshots: covers days through" in again.stderr
        assert _latest_snapshot_day(home) == today
    demo_again = _subledger(env, "demo", "--subscriptions", "25", "--months", "3", "--seed", "7")
    assert demo_again.returncode == 0, demo_again.stderr[-4000:]
    assert counts() == before


def test_run_usage_errors_exit_2(demo_home):
    _, env, _ = demo_home
    bad_partition = _subledger(env, "run", "--partition", "not-a-partition")
    assert bad_partition.returncode == 2
    assert "is not a partition of any selected asset" in bad_partition.stderr
    bad_selection = _subledger(env, "run", "--select", "key:does/not/exist")
    assert bad_selection.returncode == 2
    assert "--select" in bad_selection.stderr


def test_run_exits_1_when_an_error_check_fails(demo_home):
    _, env, _ = demo_home
    up = json.loads(_subledger(env, "up", "--json", timeout=120).stdout)
    owner = up["dsn"]
    with psycopg.connect(owner, autocommit=True) as conn:
        # corrupt one cached balance (the owner can; the writer cannot): the cache-drift check must fail
        row = conn.execute("SELECT account_id, currency FROM ledger.balances ORDER BY account_id, currency LIMIT 1").fetchone()
        conn.execute("UPDATE ledger.balances SET posted_debits = posted_debits + 1 WHERE account_id = %s AND currency = %s", row)
        try:
            failed = _subledger(env, "run", "--select", "key:warehouse/ledger_mirror")
        finally:
            conn.execute("UPDATE ledger.balances SET posted_debits = posted_debits - 1 WHERE account_id = %s AND currency = %s", row)
    assert failed.returncode == 1, failed.stderr[-4000:]
    assert "ledger_cache_drift" in failed.stderr
    repaired = _subledger(env, "run", "--select", "key:warehouse/ledger_mirror")
    assert repaired.returncode == 0, repaired.stderr[-4000:]
