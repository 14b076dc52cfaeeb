"""Structured logs that say which batch and run they belong to, and never carry a secret.

* :class:`DagsterRunLogHandler` is the handler the Dagster instance attaches to every run
  (``dagster.yaml``, ``python_logs.dagster_handler_config``): the same lines from run workers.
* :func:`configure_logging` installs one handler on the root logger writing JSON lines
  (``SUBLEDGER_LOG_FORMAT=json``) or ``key=value`` lines (``kv``, the default), at
  ``SUBLEDGER_LOG_LEVEL`` (default ``INFO``).
* :func:`log_context` binds fields (``batch_id``, ``run_id``, ``partition``, ...) for the code
  running inside it, across function calls and in its own thread/task (``contextvars``); every
  record created there carries them. :func:`dagster_log_context` binds a Dagster op or asset
  context's run id, job, asset and partition. Records Dagster itself creates carry their run id
  and step in ``dagster_meta``; the formatters read it too.
* :func:`install_secret_scrubber` replaces the process's log-record factory so that a record's
  message has passwords removed *when it is created*, before any handler (Dagster's event log
  included) sees it: the password of any ``scheme://user:password@host`` URL, ``password=...``
  style pairs, and every value registered with :func:`register_secret` (the passwords of the
  ``SUBLEDGER_DATABASE_URL`` / ``SUBLEDGER_DAGSTER_DATABASE_URL`` in the environment are
  registered automatically). Formatters scrub exception text and extra fields again.

``import logging`` inside this package still means the standard library (absolute imports);
this module is ``ledger_pipelines.logging``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

REDACTED = "***"

#: Variables whose values are URLs with passwords; their passwords are always scrubbed.
SECRET_URL_VARIABLES = ("SUBLEDGER_DATABASE_URL", "SUBLEDGER_DAGSTER_DATABASE_URL", "DATABASE_URL")

#: Context fields, in the order the key=value format prints them.
CONTEXT_FIELDS = ("run_id", "job", "step", "event", "asset", "partition", "batch_id", "file")

_URL_PASSWORD = re.compile(
    r"(?P<prefix>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s'\"]*:)(?P<password>[^\s'\"]*)(?P<at>@)"
)
_PAIR_PASSWORD = re.compile(
    r"(?i)(?P<key>[\"']?[\w\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key)[\"']?\s*[=:]\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s&;,'\")}\]]+)"
)
_SECRET_HINT = re.compile(r"(?i)password|passwd|pwd|secret|token|api[_\-]?key|://")
_SECRET_KEY = re.compile(r"(?i)password|passwd|pwd|secret|token|api[_\-]?key")

_known_secrets: set[str] = set()
_known_lock = threading.Lock()
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "subledger_log_context", default=MappingProxyType({})
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "subledger_context", "dagster_meta", "dagster_event", "dagster_event_batch_metadata",
}


# -- scrubbing ---------------------------------------------------------------------------------
def register_secret(value: str | None) -> None:
    """Never log ``value`` verbatim (replaced by ``***`` wherever it occurs). Short values are
    ignored: redacting every ``a`` would make logs unreadable and protects nothing."""
    if value and len(value) >= 6:
        with _known_lock:
            _known_secrets.add(value)
            decoded = unquote(value)
            if decoded != value:
                _known_secrets.add(decoded)


def register_url_password(url: str | None) -> None:
    """Register the password of a connection URL (``postgresql://user:pw@host/db``)."""
    if not url:
        return
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    register_secret(password)


def register_environment_secrets(environ: Mapping[str, str] | None = None) -> None:
    environ = os.environ if environ is None else environ
    for name in SECRET_URL_VARIABLES:
        register_url_password(environ.get(name))
    register_secret(environ.get("PGPASSWORD"))


def scrub_secrets(text: str) -> str:
    """``text`` without passwords: URL passwords, ``password=...`` pairs, registered secrets."""
    if not text:
        return text
    with _known_lock:
        known = sorted(_known_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if not _SECRET_HINT.search(text):
        return text
    text = _URL_PASSWORD.sub(lambda m: m["prefix"] + REDACTED + m["at"], text)
    return _PAIR_PASSWORD.sub(lambda m: m["key"] + REDACTED, text)


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_secrets(value)
    if isinstance(value, Mapping):
        return {k: REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else _scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(v) for v in value]
    return value


def _scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to the handler to report
        return
    scrubbed = scrub_secrets(message)
    if scrubbed != message:
        record.msg, record.args = scrubbed, None


class SecretScrubbingFilter(logging.Filter):
    """A handler filter removing secrets from the message and exception text (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_record(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub_secrets(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = scrub_secrets(record.exc_text)
        return True


def install_secret_scrubber() -> None:
    """Scrub every log record of this process when it is created (idempotent).

    Also registers the passwords found in the environment (:data:`SECRET_URL_VARIABLES`).
    """
    register_environment_secrets()
    current = logging.getLogRecordFactory()
    if getattr(current, "_subledger_scrubber", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        _scrub_record(record)
        bound = _context.get()
        if bound:
            record.subledger_context = dict(bound)
        return record

    factory._subledger_scrubber = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


# -- context -----------------------------------------------------------------------------------
@contextmanager
def log_context(**fields: Any) -> Iterator[Mapping[str, Any]]:
    """Bind ``fields`` (``None`` values are dropped) to every record created inside the block."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, Any]:
    return dict(_context.get())


@contextmanager
def dagster_log_context(context: Any, **fields: Any) -> Iterator[Mapping[str, Any]]:
    """Bind a Dagster op/asset execution context's run id, job, asset and partition (duck-typed,
    so this module needs no Dagster import)."""
    run = getattr(context, "run", None)  # context.run_id is deprecated on asset contexts
    bound: dict[str, Any] = {"run_id": getattr(run, "run_id", None) if run is not None else getattr(context, "run_id", None),
                             "job": getattr(context, "job_name", None)}
    try:
        if getattr(context, "has_assets_def", False):
            bound["asset"] = context.asset_key.to_user_string()
    except Exception:  # a multi-asset has no single key
        pass
    try:
        if getattr(context, "has_partition_key", False):
            bound["partition"] = context.partition_key
    except Exception:
        pass
    with log_context(**bound, **fields) as merged:
        yield merged


def _record_context(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    meta = getattr(record, "dagster_meta", None)
    if isinstance(meta, Mapping):
        for source, target in (("run_id", "run_id"), ("job_name", "job"), ("step_key", "step")):
            if meta.get(source):
                fields[target] = meta[source]
        tags = meta.get("job_tags") or {}
        if isinstance(tags, Mapping) and tags.get("dagster/partition"):
            fields["partition"] = tags["dagster/partition"]
        event = meta.get("dagster_event")
        if getattr(event, "event_type_value", None):
            fields["event"] = event.event_type_value
    fields.update(getattr(record, "subledger_context", None) or {})
    for name, value in vars(record).items():
        if name not in _STANDARD_ATTRS and not name.startswith("_"):
            fields.setdefault(name, value)
    return fields


# -- formatting --------------------------------------------------------------------------------
def _message(record: logging.LogRecord) -> str:
    """The record's own message: for a record that went through Dagster's log manager, the
    original text (Dagster rewrites ``msg`` to ``job - run_id - step - text``; those are fields here)."""
    meta = getattr(record, "dagster_meta", None)
    if isinstance(meta, Mapping) and isinstance(meta.get("orig_message"), str):
        return meta["orig_message"]
    return record.getMessage()


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _StructuredFormatter(logging.Formatter):
    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        _scrub_record(record)
        document: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_secrets(_message(record)),
        }
        context = _record_context(record)
        for name in CONTEXT_FIELDS:
            if name in context:
                document[name] = context.pop(name)
        document.update(context)
        if record.exc_info or record.exc_text:
            text = record.exc_text or self.formatException(record.exc_info)
            document["exc"] = scrub_secrets(text)
        return _scrub_value(document)


class JsonFormatter(_StructuredFormatter):
    """One JSON object per line: ``ts, level, logger, message``, the context fields, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), default=str, ensure_ascii=False)


_BARE = re.compile(r"^[\w.:/@+\-]+$")


def _kv_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if _BARE.match(text) else json.dumps(text, ensure_ascii=False)


class KeyValueFormatter(_StructuredFormatter):
    """``ts=... level=INFO logger=... msg="..." run_id=... batch_id=...`` (logfmt)."""

    def format(self, record: logging.LogRecord) -> str:
        document = self.fields(record)
        document["msg"] = document.pop("message")
        exc = document.pop("exc", None)
        order = ["ts", "level", "logger", "msg"]
        keys = order + [k for k in document if k not in order]
        line = " ".join(f"{k}={_kv_value(document[k])}" for k in keys if k in document)
        return line + (f" exc={_kv_value(exc)}" if exc else "")


FORMATTERS = {"json": JsonFormatter, "kv": KeyValueFormatter}


class _SubledgerHandler(logging.StreamHandler):
    """Marker class, so :func:`configure_logging` replaces its own handler and nothing else."""


class DagsterRunLogHandler(logging.Handler):
    """The handler the Dagster instance adds to every run's loggers (``python_logs.
    dagster_handler_config`` in ``dagster.yaml``): one structured line per record on stderr, with
    the run id, job, step, partition and Dagster event type as fields, secrets scrubbed.

    Writes only when ``SUBLEDGER_LOG_FORMAT`` (``json`` or ``kv``) is set in the run worker's
    environment -- in the cluster (the Helm values set ``json``), or locally with
    ``SUBLEDGER_LOG_FORMAT=json subledger dev``; otherwise Dagster's own console lines suffice
    and this handler stays silent.
    """

    def __init__(self, level: int | str = logging.NOTSET, stream: TextIO | None = None) -> None:
        super().__init__(level)
        install_secret_scrubber()
        fmt = (os.environ.get("SUBLEDGER_LOG_FORMAT") or "").lower()
        self.enabled = fmt in FORMATTERS
        self.stream = stream
        self.setFormatter(FORMATTERS.get(fmt, JsonFormatter)())
        self.addFilter(SecretScrubbingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        if not self.enabled:
            return
        try:
            stream = self.stream or sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def configure_logging(fmt: str | None = None, level: str | int | None = None, stream: TextIO | None = None) -> logging.Handler:
    """Send every log record of the process through one structured, scrubbing handler on stderr.

    ``fmt``: ``json`` or ``kv`` (default ``SUBLEDGER_LOG_FORMAT``, else ``kv``); ``level``:
    default ``SUBLEDGER_LOG_LEVEL``, else ``INFO``. Idempotent: calling it again replaces the
    handler it installed before.
    """
    install_secret_scrubber()
    fmt = (fmt or os.environ.get("SUBLEDGER_LOG_FORMAT") or "kv").lower()
    if fmt not in FORMATTERS:
        raise ValueError(f"SUBLEDGER_LOG_FORMAT={fmt!r}: use 'json' or 'kv'.")
    level = level or os.environ.get("SUBLEDGER_LOG_LEVEL") or "INFO"
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _SubledgerHandler)]:
        root.removeHandler(handler)
    handler = _SubledgerHandler(stream or sys.stderr)
    handler.setFormatter(FORMATTERS[fmt]())
    handler.addFilter(SecretScrubbingFilter())
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else str(level).upper())
    return handler
