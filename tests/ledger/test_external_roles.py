"""An external server with its own writer and reader logins (SUBLEDGER_WRITER/READER_DATABASE_URL).

Without them the writer and reader are the owner's URL with ``SET ROLE``, which a session can undo
(``RESET ROLE``). With them, the reader really is read-only, whatever SQL it sends. The session's
embedded cluster plays the external server.
"""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict

from ledger_pipelines.cli import main


def url_for(dsn: str, user: str, password: str) -> str:
    parts = conninfo_to_dict(dsn)
    return f"postgresql://{user}:{password}@{parts['host']}:{parts['port']}/{parts['dbname']}"


@pytest.fixture
def logins(ledger_db):
    """Login roles: one in subledger_writer, one in subledger_reader, one in neither (dropped afterwards)."""
    suffix = uuid.uuid4().hex[:8]
    names = {kind: f"app_{kind}_{suffix}" for kind in ("writer", "reader", "stranger")}
    with psycopg.connect(ledger_db.superuser_dsn, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'pw-{suffix}'")
        conn.execute(f"GRANT subledger_writer TO {names['writer']}")
        conn.execute(f"GRANT subledger_reader TO {names['reader']}")
    owner = conninfo_to_dict(ledger_db.dsn)
    urls = {kind: url_for(ledger_db.dsn, name, f"pw-{suffix}") for kind, name in names.items()}
    urls["owner"] = url_for(ledger_db.dsn, owner["user"], owner["password"])
    yield urls
    with psycopg.connect(ledger_db.superuser_dsn, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f"DROP ROLE IF EXISTS {name}")


def up(tmp_path, **env):
    full = {"SUBLEDGER_HOME": str(tmp_path / "home"), "SUBLEDGER_TIMEZONE": None, "SUBLEDGER_LOG_FORMAT": None,
            "SUBLEDGER_DATABASE_URL": None, "SUBLEDGER_WRITER_DATABASE_URL": None, "SUBLEDGER_READER_DATABASE_URL": None,
            **env}
    return CliRunner(env=full).invoke(main, ["up", "--json"])


def test_the_reader_login_cannot_write_even_after_reset_role(tmp_path, logins):
    result = up(tmp_path, SUBLEDGER_DATABASE_URL=logins["owner"], SUBLEDGER_WRITER_DATABASE_URL=logins["writer"],
                SUBLEDGER_READER_DATABASE_URL=logins["reader"])
    assert result.exit_code == 0, result.output
    dsns = json.loads(result.stdout)
    assert "app_reader_" in dsns["reader_dsn"] and "app_writer_" in dsns["writer_dsn"]
    with psycopg.connect(logins["reader"], autocommit=True) as conn:
        conn.execute("RESET ROLE")
        assert conn.execute("SELECT count(*) FROM ledger.accounts").fetchone()[0] >= 0  # it reads
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE ledger.balances SET version = version")
    with psycopg.connect(logins["writer"], autocommit=True) as conn:
        conn.execute("RESET ROLE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE ledger.balances SET version = version")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM ledger.entries")


@pytest.mark.parametrize(
    ("writer", "reader", "says"),
    [
        ("writer", "owner", "also holds"),  # the owner's URL as the reader: more than its name says
        ("writer", "writer", "not a member of subledger_reader"),
        ("stranger", "reader", "not a member of subledger_writer"),
    ],
)
def test_a_login_with_the_wrong_rights_is_refused_before_use(tmp_path, logins, writer, reader, says):
    result = up(tmp_path, SUBLEDGER_DATABASE_URL=logins["owner"], SUBLEDGER_WRITER_DATABASE_URL=logins[writer],
                SUBLEDGER_READER_DATABASE_URL=logins[reader])
    assert result.exit_code == 2, result.output
    assert says in result.stderr and "pw-" not in result.stderr and result.stdout == ""


def test_role_urls_need_the_external_server(tmp_path, logins):
    result = up(tmp_path, SUBLEDGER_READER_DATABASE_URL=logins["reader"])
    assert result.exit_code == 2
    assert "SUBLEDGER_READER_DATABASE_URL is set but SUBLEDGER_DATABASE_URL is not" in result.stderr
