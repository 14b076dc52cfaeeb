"""Known failures of every ``subledger`` command end in one clear message, never a traceback.

interfaces.md: exit 1 on a failed check, rejected input or runtime failure (a database that cannot
be reached), 2 on usage errors (including an invalid setting); errors on stderr say what went wrong
and what to do next; ``--json`` prints nothing but its document on stdout. Nothing here needs a
database: "unreachable" is a closed port on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from ledger_pipelines.cli import main
from ledger_pipelines.cli.common import known_error
from ledger_pipelines.config import ConfigError, database_address, load_settings, redact_url

SUBLEDGER = str(Path(sys.executable).with_name("subledger"))
PASSWORD = "s3cr3t-Pw"
UNREACHABLE = f"postgresql://ledger:{PASSWORD}@127.0.0.1:1/subledger"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def run_cli(home: Path, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    """The installed console script in a fresh process, as a user runs it."""
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith("SUBLEDGER_")}
    environ["SUBLEDGER_HOME"] = str(home)
    environ.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run([SUBLEDGER, *args], env=environ, capture_output=True, text=True, timeout=120)


def invoke(home: Path, *args: str, **env: str | None):
    base = {"SUBLEDGER_HOME": str(home), "SUBLEDGER_DATABASE_URL": None, "SUBLEDGER_TIMEZONE": None,
            "SUBLEDGER_LOG_FORMAT": None}
    return CliRunner(env={**base, **env}).invoke(main, list(args))


def assert_clean_error(stdout: str, stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert PASSWORD not in stderr and PASSWORD not in stdout
    for needle in needles:
        assert needle in stderr, stderr


# -- 1. the database cannot be reached ----------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["balance", "assets:cash"],
    ["balance", "assets:cash", "--json"],
    ["balances"],
    ["up"],
    ["up", "--json"],
    ["verify", "--json"],
    ["quarantine"],
    ["close", "2024-01"],
    ["run"],
])
def test_unreachable_database_is_one_message_with_exit_1(home, args):
    done = run_cli(home, *args, SUBLEDGER_DATABASE_URL=UNREACHABLE)
    assert done.returncode == 1, done.stderr
    assert_clean_error(done.stdout, done.stderr, "could not reach the ledger database at 127.0.0.1:1",
                       "Connection refused", "SUBLEDGER_DATABASE_URL", "subledger up")
    assert done.stdout == ""  # --json or not: nothing on stdout
    assert 1 <= len(done.stderr.strip().splitlines()) <= 2


def test_unreachable_database_on_ingest_and_replay(home, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n")
    for args in (["ingest", str(events), "--json"], ["replay", str(events)]):
        result = invoke(home, *args, SUBLEDGER_DATABASE_URL=UNREACHABLE)
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit)
        assert_clean_error(result.stdout, result.stderr, "could not reach the ledger database at 127.0.0.1:1")
        assert result.stdout == ""


def test_the_password_is_never_printed_even_when_libpq_echoes_it(home):
    result = invoke(home, "balance", "a:b", SUBLEDGER_DATABASE_URL=f"postgresql://u:{PASSWORD}%zz@127.0.0.1:1/db")
    assert result.exit_code == 2
    assert_clean_error(result.stdout, result.stderr, "SUBLEDGER_DATABASE_URL is not a valid PostgreSQL URL")


# -- 2. an invalid SUBLEDGER_DATABASE_URL is a configuration (usage) error -----------------------
@pytest.mark.parametrize(("url", "needle"), [
    ("mysql://x@h/db", "got mysql://..."),
    (f"mysql://x:{PASSWORD}@h/db", "got mysql://..."),
    ("localhost:5432", "a value without a scheme"),
    (f"postgresql://x:{PASSWORD}@h:port/db", "port 'port'"),
    (f"postgresql://x:{PASSWORD}@h/db?nonsense=1", "invalid URI query parameter"),
])
def test_invalid_database_url_exits_2_naming_the_variable_and_the_form(home, url, needle):
    done = run_cli(home, "balance", "a:b", "--json", SUBLEDGER_DATABASE_URL=url)
    assert done.returncode == 2, done.stderr
    assert_clean_error(done.stdout, done.stderr, "SUBLEDGER_DATABASE_URL", "postgresql://", needle)
    assert done.stdout == ""


def test_load_settings_rejects_a_non_postgres_url_and_accepts_both_schemes():
    with pytest.raises(ConfigError, match="SUBLEDGER_DATABASE_URL"):
        load_settings({"SUBLEDGER_HOME": "/tmp/x", "SUBLEDGER_DATABASE_URL": "mysql://x@h/db"})
    for url in ("postgresql://u:p@h:5432/db", "postgres://h/db", "postgresql:///db?host=/tmp", "postgresql://a:1,b:2/db"):
        assert load_settings({"SUBLEDGER_HOME": "/tmp/x", "SUBLEDGER_DATABASE_URL": url}).database_url == url


def test_addresses_and_redaction():
    assert database_address(UNREACHABLE) == "127.0.0.1:1"
    assert database_address("postgresql://a:1,b:2/db") == "a:1, b:2"
    assert database_address("postgresql://[::1]:7/db") == "[::1]:7"
    assert database_address("postgresql:///db?host=/run/pg&port=6") == "/run/pg (Unix socket, port 6)"
    assert redact_url(UNREACHABLE) == "postgresql://ledger:***@127.0.0.1:1/subledger"
    assert redact_url("postgresql://h/db") == "postgresql://h/db"


# -- 3. --as-of / --known-at out of range ---------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["balance", "X", "--as-of", "9999-12-31T23:00:00-05:00"],
    ["balances", "--as-of", "0001-01-01T00:00:00+01:00"],
    ["balance", "X", "--known-at", "9999-12-31T23:59:59-01:00", "--json"],
])
def test_out_of_range_instants_are_usage_errors_naming_the_option(home, args):
    result = invoke(home, *args)
    assert result.exit_code == 2, result.output
    option = args[-2] if args[-1] != "--json" else args[-3]
    assert_clean_error(result.stdout, result.stderr, f"Invalid value for '{option}'", "out of the supported range")
    assert result.stdout == ""


@pytest.mark.parametrize("command", [["balance", "X"], ["balances"]])
def test_end_of_9999_12_31_west_of_utc_is_a_usage_error(home, command):
    done = run_cli(home, *command, "--as-of", "9999-12-31", SUBLEDGER_TIMEZONE="America/New_York")
    assert done.returncode == 2, done.stderr
    assert_clean_error(done.stdout, done.stderr, "Invalid value for '--as-of'", "'9999-12-31'", "SUBLEDGER_TIMEZONE")


@pytest.mark.parametrize("command", [["balance", "X"], ["balances"]])
def test_end_of_9999_12_31_in_utc_is_accepted(home, command):
    """In UTC the end of 9999-12-31 is representable: parsing passes and the command goes on to the
    database (here unreachable; tests/ledger/test_cli_errors_db.py checks the answer itself)."""
    done = run_cli(home, *command, "--as-of", "9999-12-31", SUBLEDGER_DATABASE_URL=UNREACHABLE)
    assert done.returncode == 1, done.stderr
    assert_clean_error(done.stdout, done.stderr, "could not reach the ledger database")


def test_bad_instants_name_the_option_once(home):
    result = invoke(home, "balance", "X", "--as-of", "2024-13-01")
    assert result.exit_code == 2
    assert "Invalid value for '--as-of': '2024-13-01' is not a real date" in result.stderr
    result = invoke(home, "balances", "--known-at", "2024-01-01T00:00:00")
    assert result.exit_code == 2
    assert "Invalid value for '--known-at': '2024-01-01T00:00:00' has no UTC offset" in result.stderr


# -- 4. paths that cannot be written ---------------------------------------------------------------
def test_generate_into_an_impossible_folder(home, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out in ("/proc/nope", str(blocker / "sub")):
        done = run_cli(home, "generate", "--out", out, "--subscriptions", "2", "--months", "1")
        assert done.returncode == 2, done.stderr
        assert_clean_error(done.stdout, done.stderr, "Invalid value for '--out'", "cannot create the folder", out)


def test_file_system_errors_on_a_path_are_reported_with_exit_1():
    error = known_error(PermissionError(13, "Permission denied", "/srv/reports/x.csv"))
    assert error is not None and error.exit_code == 1
    assert "/srv/reports/x.csv: Permission denied" in error.format_message()


# -- what stays a traceback: bugs ------------------------------------------------------------------
def test_unexpected_exceptions_are_not_swallowed(home, monkeypatch):
    import ledger_pipelines.cli.balances as balances_cli

    def boom():
        raise RuntimeError("a bug")

    monkeypatch.setattr(balances_cli, "settings_or_exit", boom)
    result = invoke(home, "balance", "X")
    assert isinstance(result.exception, RuntimeError)  # click would print its traceback


def test_only_connection_failures_of_psycopg_are_known():
    assert known_error(psycopg.errors.SerializationFailure("could not serialize access")) is None
    assert known_error(psycopg.OperationalError("the connection is closed")) is None
    assert known_error(psycopg.OperationalError("sending query failed: another command is already in progress")) is None
    assert known_error(ValueError("x")) is None
    assert known_error(OverflowError("date value out of range")) is None
    assert known_error(OSError("no errno")) is None
    lost = known_error(psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"))
    assert lost is not None and lost.exit_code == 1 and "lost the connection to the ledger database" in lost.format_message()
    assert known_error(ConfigError("SUBLEDGER_TIMEZONE='x' ...")).exit_code == 2
