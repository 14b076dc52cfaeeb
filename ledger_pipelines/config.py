"""Settings read from the environment (interfaces.md, "Configuration").

Every variable is optional. Paths default under ``SUBLEDGER_HOME`` so that one directory holds
all local state: the embedded Postgres cluster, the DuckDB warehouse, the landing folder and the
report exports. Settings are read once per call of :func:`load_settings`, never cached globally,
so tests and the CLI can point a fresh process (or a fresh call) at another home.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(ValueError):
    """A setting has a value the platform cannot use; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    """The platform's configuration, resolved to absolute paths and typed values."""

    home: Path
    database_url: str | None
    duckdb_path: Path
    timezone: str
    landing_dir: Path
    start_date: date
    max_future_years: int = 10
    closed_period_policy: str = "quarantine"  # or "next_open_day"
    rules_path: Path | None = None
    # External server only: own login URLs for the writer and reader (members of subledger_writer /
    # subledger_reader). Without them the platform uses the owner's URL with SET ROLE, which keeps
    # honest code honest but is no security boundary (a session can RESET ROLE).
    writer_database_url: str | None = None
    reader_database_url: str | None = None
    entity_name: str | None = None  # SUBLEDGER_ENTITY: the entity named on the close pack's cover
    # Ingestion limits (docs/source-events.md, "Limits of one file"): what one landed file may
    # make the reader hold, so that no file can exhaust the machine's memory.
    max_file_bytes: int = 256 << 20  # a file's bytes after decompression
    max_gzip_ratio: int = 100  # decompressed / compressed size of a .jsonl.gz
    max_columns: int = 256  # columns of a CSV or Parquet file
    max_line_bytes: int = 4 << 20  # one JSON line or CSV row held in memory; longer ones are quarantined unread

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self) -> date:
        """Today in the reporting time zone (the last day the snapshots cover)."""
        from ledger_pipelines.accounting.calendar import local_day  # Polars loads with it: not at import

        return local_day(datetime.now(UTC), self.tz)

    @property
    def postgres_dir(self) -> Path:
        """Where the embedded cluster keeps its data, log and recorded port."""
        return self.home / "postgres"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def warehouse_work_path(self) -> Path:
        """The private DuckDB file the pipeline writes; readers get the published copy."""
        return self.duckdb_path.with_name(self.duckdb_path.stem + ".work.duckdb")

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def chain_checkpoint_path(self) -> Path:
        """The hash-chain link `subledger verify` and the Dagster check verified last (they start after it)."""
        return self.home / "chain-checkpoint.json"


DATABASE_URL_FORM = "postgresql://user:password@host:port/database"
_URL_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://(?P<user>[^:@/?#]*)(?::(?P<password>[^@/?#]*))?@")


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: safe to print or log."""
    match = _URL_USERINFO.match(url)
    if not match or match.group("password") is None:
        return url
    return url[: match.start("password")] + "***" + url[match.end("password"):]


def url_password(url: str | None) -> str | None:
    """The password written in a ``scheme://user:password@host`` URL (raw, as written), if any."""
    match = _URL_USERINFO.match(url or "")
    return match.group("password") if match and match.group("password") else None


def database_url_parts(url: str, variable: str = "SUBLEDGER_DATABASE_URL") -> dict[str, str]:
    """libpq's reading of a ``postgresql://`` URL (host, port, user, dbname, ...).

    Raises :class:`ConfigError` naming ``variable`` (never its password) when the
    URL is not one libpq accepts.
    """
    if not url.startswith(("postgresql://", "postgres://")):
        scheme = url.split("://", 1)[0] + "://..." if "://" in url else "a value without a scheme"
        raise ConfigError(
            f"{variable} must be a PostgreSQL URL of the form {DATABASE_URL_FORM} "
            f"(got {scheme}); fix it, or unset it to use the embedded Postgres."
        )
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    password = url_password(url)
    try:
        parts = {k: str(v) for k, v in conninfo_to_dict(url).items()}
    except ProgrammingError as exc:
        reason = str(exc).strip().replace(password, "***") if password else str(exc).strip()
        raise ConfigError(
            f"{variable} is not a valid PostgreSQL URL ({reason}); "
            f"write it as {DATABASE_URL_FORM} (percent-encode special characters in the password)."
        ) from None
    for port in filter(None, parts.get("port", "").split(",")):
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"{variable} has port {port!r}, which is not a TCP port number; "
                f"write it as {DATABASE_URL_FORM}, e.g. ...@localhost:5432/subledger."
            )
    return parts


def database_address(url: str) -> str:
    """``host:port`` (or several, comma-separated) that ``url`` points at, for messages."""
    try:
        parts = database_url_parts(url)
    except ConfigError:
        return "(an invalid SUBLEDGER_DATABASE_URL)"
    hosts = (parts.get("host") or os.environ.get("PGHOST") or "localhost").split(",")
    ports = (parts.get("port") or os.environ.get("PGPORT") or "5432").split(",")
    if len(ports) == 1:
        ports = ports * len(hosts)
    pairs = []
    for host, port in zip(hosts, ports, strict=False):
        host = host or "localhost"
        if host.startswith("/"):
            pairs.append(f"{host} (Unix socket, port {port or '5432'})")
        else:
            pairs.append(f"[{host}]:{port or '5432'}" if ":" in host else f"{host}:{port or '5432'}")
    return ", ".join(pairs)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


#: Defaults kept with the local state: ``KEY=VALUE`` lines of ``SUBLEDGER_*`` variables, used when
#: the variable is not set in the environment (an operator's per-home defaults, e.g. the time zone).
HOME_SETTINGS_FILE = "settings.env"


def read_home_settings(home: Path) -> dict[str, str]:
    """The ``SUBLEDGER_*`` defaults in ``home/settings.env`` (empty if there is none)."""
    path = home / HOME_SETTINGS_FILE
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.startswith("SUBLEDGER_") or key == "SUBLEDGER_HOME":
            raise ConfigError(f"{path}:{number}: expected SUBLEDGER_NAME=value (not SUBLEDGER_HOME); fix or delete the line.")
        values[key] = value.strip()
    return values


def write_home_setting(home: Path, name: str, value: str) -> None:
    """Record ``name=value`` in ``home/settings.env`` (replacing an earlier value of ``name``)."""
    current = read_home_settings(home)
    current[name] = value
    home.mkdir(parents=True, exist_ok=True)
    text = "# SUBLEDGER_* defaults for this home; the environment overrides them.\n"
    text += "".join(f"{key}={current[key]}\n" for key in sorted(current))
    tmp = home / (HOME_SETTINGS_FILE + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)  # it may name a database URL with its password
    tmp.replace(home / HOME_SETTINGS_FILE)


#: ``SUBLEDGER_*`` ingestion limits: variable -> (Settings field, default, smallest accepted value).
INGEST_LIMITS: dict[str, tuple[str, int, int]] = {
    "SUBLEDGER_MAX_FILE_BYTES": ("max_file_bytes", 256 << 20, 1 << 20),
    "SUBLEDGER_MAX_GZIP_RATIO": ("max_gzip_ratio", 100, 2),
    "SUBLEDGER_MAX_COLUMNS": ("max_columns", 256, 10),
    "SUBLEDGER_MAX_LINE_BYTES": ("max_line_bytes", 4 << 20, 1 << 20),
}


def _ingest_limits(get) -> dict[str, int]:
    """The ingestion limits as Settings fields; a limit that is not a whole number >= its floor is refused."""
    limits: dict[str, int] = {}
    for variable, (name, default, floor) in INGEST_LIMITS.items():
        raw = get(variable)
        if raw is None:
            limits[name] = default
            continue
        if not raw.isdigit() or int(raw) < floor:
            raise ConfigError(
                f"{variable}={raw!r} must be a whole number of at least {floor} (default {default}); "
                "fix it or unset it."
            )
        limits[name] = int(raw)
    return limits


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the ``SUBLEDGER_*`` variables; raise :class:`ConfigError` naming the bad one.

    A variable not set in the environment is taken from ``$SUBLEDGER_HOME/settings.env`` if that
    file names it, else it has its documented default.
    """
    source = (lambda n: (environ or {}).get(n) or None) if environ is not None else _env
    home = Path(source("SUBLEDGER_HOME") or "./.subledger").expanduser().resolve()
    home_defaults = read_home_settings(home)

    def get(name: str) -> str | None:
        return source(name) or home_defaults.get(name) or None

    timezone = get("SUBLEDGER_TIMEZONE") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"SUBLEDGER_TIMEZONE={timezone!r} is not an IANA time zone; "
            "use a name such as 'UTC' or 'Europe/Berlin'."
        ) from exc
    raw_start = get("SUBLEDGER_START_DATE") or "2020-01-01"
    try:
        start_date = date.fromisoformat(raw_start)
    except ValueError as exc:
        raise ConfigError(
            f"SUBLEDGER_START_DATE={raw_start!r} is not a date; write it as YYYY-MM-DD."
        ) from exc
    raw_years = get("SUBLEDGER_MAX_FUTURE_YEARS") or "10"
    if not raw_years.isdigit():
        raise ConfigError(
            f"SUBLEDGER_MAX_FUTURE_YEARS={raw_years!r} must be a whole number of years, e.g. 10."
        )
    policy = get("SUBLEDGER_CLOSED_PERIOD_POLICY") or "quarantine"
    if policy not in ("quarantine", "next_open_day"):
        raise ConfigError(
            f"SUBLEDGER_CLOSED_PERIOD_POLICY={policy!r}: use 'quarantine' (refuse events dated in a closed month) "
            "or 'next_open_day' (post them on the first open day, keeping the intended date in metadata)."
        )
    database_url = get("SUBLEDGER_DATABASE_URL")
    if database_url is not None:
        database_url_parts(database_url)
    role_urls = {name: get(name) for name in ("SUBLEDGER_WRITER_DATABASE_URL", "SUBLEDGER_READER_DATABASE_URL")}
    for name, url in role_urls.items():
        if url is None:
            continue
        if database_url is None:
            raise ConfigError(
                f"{name} is set but SUBLEDGER_DATABASE_URL is not: the writer and reader URLs are for an external "
                "server (the embedded one makes its own login roles). Set SUBLEDGER_DATABASE_URL too, or unset "
                f"{name}."
            )
        database_url_parts(url, variable=name)
    rules = get("SUBLEDGER_RULES_PATH")
    duckdb_path = Path(get("SUBLEDGER_DUCKDB_PATH") or home / "warehouse.duckdb")
    landing_dir = Path(get("SUBLEDGER_LANDING_DIR") or home / "landing")
    return Settings(
        home=home,
        database_url=database_url,
        duckdb_path=duckdb_path.expanduser().resolve(),
        timezone=timezone,
        landing_dir=landing_dir.expanduser().resolve(),
        start_date=start_date,
        max_future_years=int(raw_years),
        closed_period_policy=policy,
        rules_path=Path(rules).expanduser().resolve() if rules else None,
        writer_database_url=role_urls["SUBLEDGER_WRITER_DATABASE_URL"],
        reader_database_url=role_urls["SUBLEDGER_READER_DATABASE_URL"],
        entity_name=get("SUBLEDGER_ENTITY"),
        **_ingest_limits(get),
    )
