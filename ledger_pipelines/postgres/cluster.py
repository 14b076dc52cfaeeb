"""The embedded local Postgres: a private cluster under ``$SUBLEDGER_HOME/postgres``.

With ``SUBLEDGER_DATABASE_URL`` unset, :func:`up` creates (once) and starts (if stopped) a cluster
bound to 127.0.0.1 on a free port that is recorded in ``cluster.json`` and reused while it stays
free. When invoked as root the server runs as the ``postgres`` user, because initdb and postgres
refuse to run as root. A second ``up`` is a no-op apart from applying new migrations.

Layout under ``$SUBLEDGER_HOME/postgres``::

    cluster.json   port and role passwords (mode 0600, owned by the invoking user)
    (this folder and SUBLEDGER_HOME: 0700, or 0710 with the postgres group when run as root)
    data/          the cluster (owned by the server user)
    run/           server log and unix socket (owned by the server user)
    .lock          serialises concurrent ``up``/``down`` calls
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from ledger_pipelines.config import Settings

LEDGER_DATABASE = "subledger"
DAGSTER_DATABASE = "subledger_dagster"
OWNER_ROLE = "subledger_owner"
WRITER_ROLE = "subledger_writer"
READER_ROLE = "subledger_reader"
SUPERUSER = "postgres"


class PostgresNotFound(RuntimeError):
    """No Postgres server binaries on this machine."""


class ClusterError(RuntimeError):
    """The embedded cluster could not be created, started or stopped."""


@dataclass(frozen=True)
class Dsns:
    """Connection strings for the ledger database, one per role, plus the Dagster instance's."""

    dsn: str
    writer_dsn: str
    reader_dsn: str
    dagster_dsn: str

    def as_public_json(self) -> dict[str, str]:
        """The document ``subledger up --json`` prints (interfaces.md)."""
        return {"dsn": self.dsn, "reader_dsn": self.reader_dsn, "writer_dsn": self.writer_dsn}


# Where Postgres server binaries usually live (Debian/Ubuntu, RPM distributions, source builds,
# Homebrew). Each root is tried as a bin folder itself, then ``root/bin``, then ``root/*/bin``
# (newest version first).
DEFAULT_SEARCH_ROOTS: tuple[Path, ...] = (
    Path("/usr/lib/postgresql"),
    Path("/usr/local/pgsql"),
    Path("/opt/homebrew/opt/postgresql"),
)

INSTALL_HINT = (
    "No Postgres server binaries (initdb, pg_ctl) were found. Install them "
    "(Debian/Ubuntu: `apt-get install postgresql`; Fedora/RHEL: `dnf install postgresql-server`; "
    "macOS: `brew install postgresql`), or set SUBLEDGER_PG_BINDIR to the folder that holds them, "
    "or point SUBLEDGER_DATABASE_URL at an existing Postgres server "
    "(e.g. postgresql://owner:secret@db.example:5432/subledger) and the embedded one is not needed."
)


def _version_key(path: Path) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in path.parent.name).split()
    return tuple(int(d) for d in digits) or (0,)


def find_postgres_bindir(
    *,
    environ: dict[str, str] | None = None,
    search_path: str | None = None,
    search_roots: tuple[Path, ...] | list[Path] | None = None,
) -> Path:
    """Locate ``initdb``/``pg_ctl``: ``$SUBLEDGER_PG_BINDIR``, then PATH, then the usual folders.

    The keyword arguments replace, for tests and callers with their own layout, the process
    environment (``environ``), the PATH searched (``search_path``) and the folders searched
    after PATH (``search_roots``, default :data:`DEFAULT_SEARCH_ROOTS`).
    """
    env = os.environ if environ is None else environ
    candidates: list[Path] = []
    if env.get("SUBLEDGER_PG_BINDIR"):
        candidates.append(Path(env["SUBLEDGER_PG_BINDIR"]))
    on_path = shutil.which("pg_ctl", path=env.get("PATH", os.defpath) if search_path is None else search_path)
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for root in DEFAULT_SEARCH_ROOTS if search_roots is None else search_roots:
        root = Path(root)
        candidates += [root, root / "bin"]
        candidates += sorted(root.glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    if env.get("SUBLEDGER_PG_BINDIR"):
        raise PostgresNotFound(f"SUBLEDGER_PG_BINDIR={env['SUBLEDGER_PG_BINDIR']!r} holds no initdb and pg_ctl. " + INSTALL_HINT)
    raise PostgresNotFound(INSTALL_HINT)


def _server_user() -> pwd.struct_passwd | None:
    """The account the server runs as: ``postgres`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ClusterError(
            "Running as root, but there is no 'postgres' user to run the server as (Postgres "
            "refuses to run as root). Create it (`useradd --system postgres`) or run subledger "
            "as an ordinary user."
        ) from exc


def _as_server_user(argv: list[str]) -> list[str]:
    user = _server_user()
    return ["runuser", "-u", user.pw_name, "--", *argv] if user else argv


def _chown_to_server_user(path: Path) -> None:
    user = _server_user()
    if user:
        os.chown(path, user.pw_uid, user.pw_gid)


def _check_traversable(path: Path) -> None:
    """The server user must be able to reach the data folder through every parent.

    It may enter a folder it owns, one open to others (``o+x``), or one whose group is its own
    with ``g+x`` (how :func:`_make_private` opens ``SUBLEDGER_HOME`` to it and to nobody else).
    """
    user = _server_user()
    if not user:
        return
    for parent in [path, *path.parents]:
        status = parent.stat()
        mode = status.st_mode
        by_group = status.st_gid == user.pw_gid and mode & 0o010
        if status.st_uid != user.pw_uid and not mode & 0o001 and not by_group:
            raise ClusterError(
                f"The postgres user cannot enter {parent} (mode {oct(mode & 0o777)}), so the "
                f"embedded server cannot use {path}. Set SUBLEDGER_HOME to a folder it can "
                f"reach (e.g. under /srv or /tmp), or `chmod o+x {parent}`."
            )


def _make_private(folder: Path) -> None:
    """Nobody but the invoking user may list or read ``folder``; the server user may only pass through.

    As an ordinary user the server runs as that user: 0700. As root the server runs as
    ``postgres``, which must traverse ``SUBLEDGER_HOME`` to reach its data folder: the folder's
    group becomes postgres's and the mode 0710 (search only, no listing, no reading), instead of
    the o+x that let every local user read the warehouse, reports and landed files by name.
    """
    user = _server_user()
    if user is None:
        folder.chmod(0o700)
        return
    os.chown(folder, -1, user.pw_gid)
    folder.chmod(0o710)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    """Whether the server could listen on ``port`` now.

    With SO_REUSEADDR, as the postmaster binds: connections of a just-stopped server linger in
    TIME_WAIT on the port for a minute, which must not make ``up`` after ``down`` move the
    cluster to another port; only a socket that is bound or listening there counts.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _dsn(user: str, password: str, port: int, database: str, options: str | None = None) -> str:
    dsn = f"postgresql://{quote(user)}:{quote(password, safe='')}@127.0.0.1:{port}/{database}"
    return dsn + (f"?options={quote(options)}" if options else "")


class EmbeddedCluster:
    """One private Postgres cluster under ``settings.postgres_dir``."""

    def __init__(self, settings: Settings, server_options: dict[str, str] | None = None):
        self.settings = settings
        self.root = settings.postgres_dir
        self.data_dir = self.root / "data"
        self.run_dir = self.root / "run"
        self.state_file = self.root / "cluster.json"
        self.log_file = self.run_dir / "server.log"
        self.server_options = server_options or {}

    # -- state -------------------------------------------------------------------------------
    def _read_state(self) -> dict:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {}

    def _write_state(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.state_file)

    def _make_home_private(self) -> None:
        """``SUBLEDGER_HOME`` and the cluster's folder: private, passable by the server user only (docs/security.md)."""
        for folder in (self.settings.home, self.root):
            _make_private(folder)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- lifecycle ---------------------------------------------------------------------------
    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        bindir = find_postgres_bindir()
        result = subprocess.run(
            _as_server_user([str(bindir / "pg_ctl"), "status", "-D", str(self.data_dir)]),
            capture_output=True,
            text=True,
        )
        return result.returncode == 0

    def up(self) -> Dsns:
        """Create and start the cluster if needed; create roles and databases; return DSNs."""
        with self._locked():
            self._make_home_private()
            bindir = find_postgres_bindir()
            state = self._read_state()
            if not self.is_initialised():
                state = self._initdb(bindir)
            if not self.is_running():
                state = self._start(bindir, state)
            self._bootstrap(state)
            return self.dsns(state)

    def down(self) -> bool:
        """Stop the server (fast shutdown); data is kept. Return whether it was running."""
        with self._locked():
            if not self.is_running():
                return False
            bindir = find_postgres_bindir()
            result = subprocess.run(
                _as_server_user(
                    [str(bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"]
                ),
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise ClusterError(f"pg_ctl stop failed: {result.stderr.strip()}")
            return True

    def _initdb(self, bindir: Path) -> dict:
        _check_traversable(self.root.parent)
        for folder in (self.data_dir, self.run_dir):
            if folder.exists() and folder == self.data_dir:
                shutil.rmtree(folder)  # a half-made data dir from a crashed initdb
            folder.mkdir(exist_ok=True)
            folder.chmod(0o700)
            _chown_to_server_user(folder)
        state = {
            "port": _free_port(),
            "passwords": {
                role: secrets.token_urlsafe(24)
                for role in (SUPERUSER, OWNER_ROLE, WRITER_ROLE, READER_ROLE)
            },
        }
        pwfile = self.run_dir / "initdb.pw"
        pwfile.write_text(state["passwords"][SUPERUSER] + "\n")
        pwfile.chmod(0o600)
        _chown_to_server_user(pwfile)
        try:
            result = subprocess.run(
                _as_server_user(
                    [
                        str(bindir / "initdb"),
                        "-D", str(self.data_dir),
                        "-U", SUPERUSER,
                        f"--pwfile={pwfile}",
                        "--auth=scram-sha-256",
                        "--encoding=UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                capture_output=True,
                text=True,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ClusterError(f"initdb failed:\n{result.stderr.strip()}")
        self._write_state(state)
        return state

    def _start(self, bindir: Path, state: dict) -> dict:
        if not _port_is_free(state["port"]):
            state["port"] = _free_port()
            self._write_state(state)
        options = {
            "port": str(state["port"]),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.run_dir),
            "max_connections": "200",
            "shared_buffers": "256MB",
            "max_wal_size": "4GB",
            "max_locks_per_transaction": "256",
            "work_mem": "64MB",
            "maintenance_work_mem": "256MB",
            **self.server_options,
        }
        flags = " ".join(f"-c {key}={value}" for key, value in options.items())
        result = subprocess.run(
            _as_server_user(
                [
                    str(bindir / "pg_ctl"), "start", "-w", "-t", "60",
                    "-D", str(self.data_dir),
                    "-l", str(self.log_file),
                    "-o", flags,
                ]
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise ClusterError(
                f"The embedded Postgres did not start (pg_ctl: {result.stderr.strip()}). "
                f"Server log {self.log_file}:\n{tail}"
            )
        return state

    def _superuser_conninfo(self, state: dict, database: str = "postgres") -> str:
        return _dsn(SUPERUSER, state["passwords"][SUPERUSER], state["port"], database)

    def _bootstrap(self, state: dict) -> None:
        """Create the login roles and the two databases if missing (idempotent)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(self._superuser_conninfo(state), autocommit=True)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            for role in (OWNER_ROLE, WRITER_ROLE, READER_ROLE):
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
                verb = "ALTER" if exists else "CREATE"
                extra = " CREATEDB CREATEROLE" if role == OWNER_ROLE else ""
                conn.execute(
                    sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}" + extra).format(
                        sql.Identifier(role), sql.Literal(state["passwords"][role])
                    )
                )
            # The owner may act as the writer/reader (SET ROLE) to grant and to test grants.
            conn.execute(
                sql.SQL("GRANT {}, {} TO {}").format(
                    sql.Identifier(WRITER_ROLE), sql.Identifier(READER_ROLE), sql.Identifier(OWNER_ROLE)
                )
            )
            for database in (LEDGER_DATABASE, DAGSTER_DATABASE):
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [database]
                ).fetchone()
                if not exists:
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(database), sql.Identifier(OWNER_ROLE)
                        )
                    )
            # Every login role reaches only its own database: the Dagster instance database (run
            # history, logs, event payloads in run configs) is the owner's alone; the ledger's takes
            # the writer and reader (TEMPORARY: the bulk path's staging tables). PUBLIC gets nothing.
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(DAGSTER_DATABASE)))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(LEDGER_DATABASE)))
            conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}, {}").format(
                sql.Identifier(LEDGER_DATABASE), sql.Identifier(WRITER_ROLE), sql.Identifier(READER_ROLE)))

    def dsns(self, state: dict | None = None, database: str = LEDGER_DATABASE) -> Dsns:
        state = state or self._read_state()
        if not state:
            raise ClusterError("The embedded Postgres has not been created yet; run `subledger up`.")
        port, pw = state["port"], state["passwords"]
        return Dsns(
            dsn=_dsn(OWNER_ROLE, pw[OWNER_ROLE], port, database),
            writer_dsn=_dsn(WRITER_ROLE, pw[WRITER_ROLE], port, database),
            reader_dsn=_dsn(READER_ROLE, pw[READER_ROLE], port, database),
            dagster_dsn=_dsn(OWNER_ROLE, pw[OWNER_ROLE], port, DAGSTER_DATABASE),
        )

    def superuser_dsn(self, database: str = "postgres") -> str:
        return self._superuser_conninfo(self._read_state(), database)


def external_dsns(database_url: str, writer_url: str | None = None, reader_url: str | None = None) -> Dsns:
    """DSNs for an external server.

    The writer and reader log in with their own URLs when given (``SUBLEDGER_WRITER_DATABASE_URL``,
    ``SUBLEDGER_READER_DATABASE_URL``: login roles that are members of ``subledger_writer`` /
    ``subledger_reader``, checked by :func:`ledger_pipelines.postgres.database.check_role_logins`).
    Otherwise they are the owner's URL with a ``SET ROLE`` option; the owner in
    ``SUBLEDGER_DATABASE_URL`` is a member of both (the first migration grants that). That keeps the
    platform's own code to the writer's and reader's rights, but a session can ``RESET ROLE``: give
    applications that are not the platform their own URLs.
    """
    sep = "&" if "?" in database_url else "?"

    def with_role(role: str) -> str:
        return f"{database_url}{sep}options={quote(f'-c role={role}')}"

    return Dsns(
        dsn=database_url,
        writer_dsn=writer_url or with_role(WRITER_ROLE),
        reader_dsn=reader_url or with_role(READER_ROLE),
        dagster_dsn=os.environ.get("SUBLEDGER_DAGSTER_DATABASE_URL", database_url),
    )
