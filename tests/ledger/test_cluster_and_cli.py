"""The embedded cluster and the command line: ``up`` / ``down`` / ``balance`` / ``balances``.

One SUBLEDGER_HOME (one embedded cluster) serves the whole module. ``up --json`` runs as a real
subprocess (the console script); the rest through ``click.testing.CliRunner`` in process.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from ledger_pipelines.cli import main
from ledger_pipelines.config import load_settings
from ledger_pipelines.ledger.model import Leg, NewTransaction
from ledger_pipelines.ledger.posting import Ledger
from ledger_pipelines.postgres import cluster as cluster_module
from ledger_pipelines.postgres.cluster import EmbeddedCluster, PostgresNotFound, find_postgres_bindir
from ledger_pipelines.postgres.database import connect
from tests.ledger.helpers_ledger import contract_balances

SUBLEDGER = str(Path(sys.executable).with_name("subledger"))
FUND_AT = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
PAY_AT = datetime(2024, 1, 11, 9, 0, tzinfo=UTC)
SALE_AT = datetime(2024, 1, 12, 23, 30, tzinfo=UTC)


def _env(home: Path, **extra) -> dict[str, str | None]:
    return {"SUBLEDGER_HOME": str(home), "SUBLEDGER_DATABASE_URL": None, "SUBLEDGER_TIMEZONE": None, **extra}


@pytest.fixture(scope="module")
def home():
    path = Path(tempfile.mkdtemp(prefix="subledger-cli-"))
    path.chmod(0o755)  # the server runs as 'postgres' when the tests run as root
    yield path
    EmbeddedCluster(load_settings({"SUBLEDGER_HOME": str(path)})).down()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def up_json(home):
    """``subledger up --json`` in a subprocess, as a user would run it."""
    env = {k: v for k, v in os.environ.items() if k not in ("SUBLEDGER_DATABASE_URL", "SUBLEDGER_TIMEZONE")}
    env["SUBLEDGER_HOME"] = str(home)
    done = subprocess.run([SUBLEDGER, "up", "--json"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def dsns(up_json):
    return json.loads(up_json)


@pytest.fixture(scope="module")
def seeded(dsns):
    """A few postings at known times; returns the expected (posted, pending, available) per account/currency."""
    ledger = Ledger(connect(dsns["writer_dsn"]), actor="cli-test")
    ledger.post(NewTransaction("fund", (Leg("assets:cash", "debit", 1000, "USD"), Leg("equity:capital", "credit", 1000, "USD")), FUND_AT))
    ledger.post(NewTransaction("pay", (Leg("assets:in_transit", "debit", 300, "USD"), Leg("assets:cash", "credit", 300, "USD")),
                               PAY_AT, status="pending"))
    ledger.post(NewTransaction("yen", (Leg("assets:cash", "debit", 5000, "JPY"), Leg("equity:capital", "credit", 5000, "JPY")), PAY_AT))
    ledger.post(NewTransaction("sale", (Leg("assets:receivables:s1", "debit", 250, "USD"), Leg("revenue:sales", "credit", 250, "USD")),
                               SALE_AT))
    ledger.conn.close()
    return {
        ("assets:cash", "USD"): contract_balances("debit", 1000, 0, 0, 300),
        ("assets:cash", "JPY"): contract_balances("debit", 5000, 0, 0, 0),
        ("assets:in_transit", "USD"): contract_balances("debit", 0, 0, 300, 0),
        ("assets:receivables:s1", "USD"): contract_balances("debit", 250, 0, 0, 0),
        ("equity:capital", "USD"): contract_balances("credit", 0, 1000, 0, 0),
        ("equity:capital", "JPY"): contract_balances("credit", 0, 5000, 0, 0),
        ("revenue:sales", "USD"): contract_balances("credit", 0, 250, 0, 0),
    }


def cli(home, *args, **env):
    return CliRunner(env=_env(home, **env)).invoke(main, list(args), catch_exceptions=False)


def numbers(doc):
    return doc["posted"], doc["pending"], doc["available"]


# ---------------------------------------------------------------------------------------------
# up / down
# ---------------------------------------------------------------------------------------------
def test_up_json_prints_one_document_with_three_working_dsns(up_json, dsns):
    assert up_json.count("\n") == 1 and up_json.endswith("}\n")  # one JSON document and nothing else on stdout
    assert set(dsns) == {"dsn", "reader_dsn", "writer_dsn"}
    roles = {}
    for key, dsn in dsns.items():
        with psycopg.connect(dsn) as conn:
            roles[key] = conn.execute("SELECT current_user").fetchone()[0]
    assert roles == {"dsn": "subledger_owner", "writer_dsn": "subledger_writer", "reader_dsn": "subledger_reader"}
    with psycopg.connect(dsns["dsn"]) as conn:
        applied = {r[0] for r in conn.execute("SELECT migration_id FROM _yoyo_migration")}
    assert {"0001_baseline", "0002_from_stacked_migrations", "0003_recording_service"} <= applied  # a new database: the schema files
    # each role has its powers and no more
    with psycopg.connect(dsns["reader_dsn"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("INSERT INTO ledger.audit_log (action, target_type, target_id) VALUES ('a', 'b', 'c')")
    with psycopg.connect(dsns["writer_dsn"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE ledger.balances SET version = 0")


def test_the_embedded_cluster_authenticates_every_connection_and_keeps_roles_to_their_databases(home, dsns):
    """docs/security.md, D1-D3: no trust authentication (local socket or TCP), the Dagster instance
    database is the owner's alone, the DDL audit is installed by `up`."""
    superuser = EmbeddedCluster(load_settings({"SUBLEDGER_HOME": str(home)})).superuser_dsn()
    with psycopg.connect(superuser) as conn:
        methods = {r[0] for r in conn.execute("SELECT auth_method FROM pg_hba_file_rules WHERE error IS NULL")}
        listen = conn.execute("SHOW listen_addresses").fetchone()[0]
    assert methods == {"scram-sha-256"} and listen == "127.0.0.1"
    for role in ("writer_dsn", "reader_dsn"):
        elsewhere = dsns[role].rsplit("/", 1)[0] + "/" + cluster_module.DAGSTER_DATABASE
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(elsewhere).close()
        wrong = dsns[role].replace(dsns[role].split(":")[2].split("@")[0], "not-the-password")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong).close()
    with psycopg.connect(dsns["dsn"]) as conn:
        assert conn.execute("SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'subledger_audit_%' "
                            "AND evtenabled = 'O'").fetchone()[0] == 2


def _state(home):
    state = json.loads((home / "postgres" / "cluster.json").read_text())
    pid = (home / "postgres" / "data" / "postmaster.pid").read_text().splitlines()[0]
    return state["port"], pid


def test_a_second_up_is_a_no_op(home, dsns, up_json):
    port, pid = _state(home)
    assert f":{port}/" in dsns["dsn"]
    with psycopg.connect(dsns["dsn"]) as conn:
        log_rows = conn.execute("SELECT count(*) FROM _yoyo_log").fetchone()[0]
    result = cli(home, "up", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == dsns
    assert _state(home) == (port, pid)  # same server process, same recorded port
    with psycopg.connect(dsns["dsn"]) as conn:
        assert conn.execute("SELECT count(*) FROM _yoyo_log").fetchone()[0] == log_rows  # no migration re-applied
    plain = cli(home, "up")
    assert plain.exit_code == 0 and "Ledger database ready" in plain.stdout
    # Postgres refuses to run as root: when we are root the server runs as the 'postgres' user
    uid = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:")).split()[1])
    if os.geteuid() == 0:
        import pwd

        assert uid == pwd.getpwnam("postgres").pw_uid
    else:
        assert uid == os.geteuid()


def test_down_keeps_the_data_and_up_reuses_the_recorded_port(home, dsns, seeded):
    port, pid = _state(home)
    # open connections at shutdown: the server closes them, leaving its port in TIME_WAIT
    held = [psycopg.connect(dsns["reader_dsn"]) for _ in range(3)]
    result = cli(home, "down")
    assert result.exit_code == 0 and "stopped" in result.stdout
    for conn in held:
        conn.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsns["reader_dsn"], connect_timeout=3)
    again = cli(home, "down")
    assert again.exit_code == 0 and "was not running" in again.stdout
    result = cli(home, "up", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == dsns
    new_port, new_pid = _state(home)
    assert new_port == port and new_pid != pid
    with psycopg.connect(dsns["reader_dsn"]) as conn:
        keys = {r[0] for r in conn.execute("SELECT idempotency_key FROM ledger.transactions")}
    assert keys == {"fund", "pay", "yen", "sale"}


def test_missing_postgres_binaries_say_how_to_install_or_where_to_point(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PostgresNotFound) as caught:
        find_postgres_bindir(environ={}, search_path=str(empty), search_roots=[empty])
    message = str(caught.value)
    assert "initdb" in message and "apt-get install postgresql" in message
    assert "SUBLEDGER_DATABASE_URL" in message and "SUBLEDGER_PG_BINDIR" in message

    # a folder named by SUBLEDGER_PG_BINDIR that holds the binaries wins; a wrong one is named in the error
    fake = tmp_path / "pg" / "bin"
    fake.mkdir(parents=True)
    for name in ("initdb", "pg_ctl"):
        (fake / name).write_text("#!/bin/sh\n")
    assert find_postgres_bindir(environ={"SUBLEDGER_PG_BINDIR": str(fake)}, search_path="", search_roots=[]) == fake
    assert find_postgres_bindir(environ={}, search_path="", search_roots=[tmp_path / "pg"]) == fake
    with pytest.raises(PostgresNotFound, match="SUBLEDGER_PG_BINDIR='/nowhere' holds no initdb"):
        find_postgres_bindir(environ={"SUBLEDGER_PG_BINDIR": "/nowhere"}, search_path="", search_roots=[])
    # the real machine has them (the rest of this module depends on that)
    assert (find_postgres_bindir() / "initdb").is_file()

    # end to end: `subledger up` on a machine without them exits 1 with that advice on stderr
    monkeypatch.setattr(cluster_module, "DEFAULT_SEARCH_ROOTS", (empty,))
    home = tmp_path / "home"
    result = CliRunner(env={**_env(home), "PATH": str(empty), "SUBLEDGER_PG_BINDIR": None}).invoke(main, ["up"])
    assert result.exit_code == 1, result.output
    assert "apt-get install postgresql" in result.stderr and "SUBLEDGER_DATABASE_URL" in result.stderr
    assert result.stdout == ""


# ---------------------------------------------------------------------------------------------
# balance / balances
# ---------------------------------------------------------------------------------------------
def test_balance_json_for_one_currency_and_for_all(home, seeded):
    result = cli(home, "balance", "assets:cash", "--currency", "USD", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["account"] == "assets:cash" and doc["currency"] == "USD"
    assert numbers(doc) == seeded[("assets:cash", "USD")] == (1000, 700, 700)
    assert isinstance(doc["version"], int) and doc["version"] >= 2
    datetime.fromisoformat(doc["as_of"])

    result = cli(home, "balance", "assets:cash", "--json")
    docs = json.loads(result.stdout)
    assert [(d["currency"], numbers(d)) for d in docs] == [("JPY", seeded[("assets:cash", "JPY")]), ("USD", seeded[("assets:cash", "USD")])]

    text = cli(home, "balance", "revenue:sales")
    assert text.exit_code == 0 and "revenue:sales USD: posted 2.50, pending 2.50, available 2.50" in text.stdout


def test_balance_as_of_dates_and_timestamps(home, seeded):
    def usd(*args, **env):
        result = cli(home, "balance", "assets:cash", "--currency", "USD", "--json", *args, **env)
        assert result.exit_code == 0, result.stderr
        return numbers(json.loads(result.stdout))

    assert usd("--as-of", "2024-01-09") == (0, 0, 0)
    assert usd("--as-of", "2024-01-10") == (1000, 1000, 1000)  # the end of that day
    assert usd("--as-of", "2024-01-10T11:59:59Z") == (0, 0, 0)
    assert usd("--as-of", "2024-01-10T13:00:00+01:00") == (1000, 1000, 1000)  # = 12:00Z, effective_at <= as_of
    assert usd("--as-of", "2024-01-11") == (1000, 700, 700)

    def sales(day, tz=None):
        result = cli(home, "balance", "revenue:sales", "--json", "--currency", "USD", "--as-of", day, SUBLEDGER_TIMEZONE=tz)
        return json.loads(result.stdout)["posted"]

    # the sale is at 23:30Z on the 12th: inside the 12th in UTC, on the 13th in Tokyo
    assert sales("2024-01-12") == 250
    assert sales("2024-01-12", "Asia/Tokyo") == 0
    assert sales("2024-01-13", "Asia/Tokyo") == 250


def test_balances_json_and_csv(home, seeded):
    result = cli(home, "balances", "--format", "json")
    assert result.exit_code == 0, result.stderr
    docs = json.loads(result.stdout)
    assert {(d["account"], d["currency"]): numbers(d) for d in docs} == seeded

    result = cli(home, "balances", "--format", "csv")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "account,currency,posted,pending,available,as_of,version,lock_version"
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {(r["account"], r["currency"]): (int(r["posted"]), int(r["pending"]), int(r["available"])) for r in rows} == seeded
    assert all(int(r["version"]) > 0 for r in rows)
    # lock_version is the account's (all currencies): the number a producer sends on a leg
    cash_versions = {int(r["lock_version"]) for r in rows if r["account"] == "assets:cash"}
    assert len(cash_versions) == 1
    assert cash_versions.pop() == sum(int(r["version"]) for r in rows if r["account"] == "assets:cash")

    early = json.loads(cli(home, "balances", "--as-of", "2024-01-10").stdout)
    assert {(d["account"], d["currency"]): numbers(d) for d in early} == {
        ("assets:cash", "USD"): (1000, 1000, 1000), ("equity:capital", "USD"): (1000, 1000, 1000)}


def test_category_balances(home, seeded):
    result = cli(home, "balances", "--category", "assets", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "category,currency,posted,pending,available,as_of,version"
    rows = {(r["category"], r["currency"]): (int(r["posted"]), int(r["pending"]), int(r["available"]))
            for r in csv.DictReader(io.StringIO(result.stdout))}
    usd_assets = [v for (a, c), v in seeded.items() if a.startswith("assets:") and c == "USD"]
    assert rows[("assets", "USD")] == tuple(sum(v[i] for v in usd_assets) for i in range(3))
    assert rows[("assets:cash", "JPY")] == seeded[("assets:cash", "JPY")]
    assert all(c == "assets" or c.startswith("assets:") for c, _ in rows)
    docs = json.loads(cli(home, "balances", "--category", "revenue", "--format", "json").stdout)
    assert [(d["category"], d["currency"], numbers(d)) for d in docs] == [
        ("revenue", "USD", (250, 250, 250)), ("revenue:sales", "USD", (250, 250, 250))]


@pytest.mark.parametrize(
    "args, code, fragments",
    [
        (["balance", "assets:nobody"], 1, ["assets:nobody", "subledger balances"]),
        (["balance", "assets:cash", "--as-of", "2024-01-10T12:00:00"], 2, ["no UTC offset", "2024-01-10T12:00:00Z"]),
        (["balance", "assets:cash", "--as-of", "2024-13-01"], 2, ["not a real date"]),
        (["balances", "--as-of", "yesterday"], 2, ["neither a date", "YYYY-MM-DD"]),
        (["balances", "--format", "xml"], 2, ["'xml' is not one of"]),
        (["balance", "assets:cash", "--currency", "usd"], 2, ["'usd' is not an ISO 4217", "USD"]),
        (["balances", "--category", "plan:nope"], 1, ["no category is named 'plan:nope'"]),
        (["balance"], 2, ["Missing argument 'ACCOUNT'"]),
        (["up", "--bogus"], 2, ["No such option"]),
    ],
)
def test_exit_codes_and_errors_on_stderr(home, seeded, args, code, fragments):
    result = cli(home, *args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize("command", ["up", "down", "balance", "balances"])
def test_help_on_each_command(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: main {command}") or result.stdout.startswith(f"Usage: subledger {command}")
    assert "--help" in result.stdout
    expected = {"up": ["--json"], "down": [], "balance": ["--as-of", "--currency", "--json"],
                "balances": ["--as-of", "--category", "--format"]}[command]
    for option in expected:
        assert option in result.stdout


def test_known_at_answers_as_the_ledger_stood_then(home, dsns, seeded):
    with psycopg.connect(dsns["reader_dsn"]) as conn:
        pay_recorded = conn.execute("SELECT created_at FROM ledger.transactions WHERE idempotency_key = 'pay'").fetchone()[0]
    before = (pay_recorded - timedelta(microseconds=1)).isoformat()
    result = cli(home, "balance", "assets:cash", "--currency", "USD", "--json", "--known-at", before)
    assert result.exit_code == 0, result.stderr
    assert numbers(json.loads(result.stdout)) == (1000, 1000, 1000)  # the pending payment was not recorded yet
    result = cli(home, "balance", "assets:cash", "--currency", "USD", "--json", "--known-at", pay_recorded.isoformat())
    assert numbers(json.loads(result.stdout)) == (1000, 700, 700)
