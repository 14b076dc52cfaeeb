"""The recording service's settings: ``SUBLEDGER_*`` variables read like the platform's own.

A variable not set in the environment is taken from ``$SUBLEDGER_HOME/settings.env`` (as
:func:`ledger_pipelines.config.load_settings` does); every one is optional.

| variable | default | meaning |
|---|---|---|
| ``SUBLEDGER_API_HOST`` / ``SUBLEDGER_API_PORT`` | ``127.0.0.1`` / ``8480`` | where ``subledger serve`` listens |
| ``SUBLEDGER_QUEUE_BATCH`` | ``1000`` | most outbox rows one worker claims and posts in one database transaction |
| ``SUBLEDGER_QUEUE_MAX_TRIES`` | ``3`` | times an event may fail alone before it is quarantined as poison |
| ``SUBLEDGER_QUEUE_POLL_SECONDS`` | ``0.2`` | how long an idle worker waits before it looks again |
| ``SUBLEDGER_OUTBOX_RETENTION_HOURS`` | ``168`` | processed outbox rows are deleted this long after they were posted |
| ``SUBLEDGER_QUEUE_LAG_WARN_SECONDS`` | ``60`` | the Dagster check and sensor warn when the oldest waiting event is older |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ledger_pipelines.config import ConfigError, Settings, read_home_settings


@dataclass(frozen=True)
class ServiceSettings:
    api_host: str = "127.0.0.1"
    api_port: int = 8480
    batch_size: int = 1000
    max_tries: int = 3
    poll_seconds: float = 0.2
    retention_hours: float = 168.0
    lag_warn_seconds: float = 60.0


#: variable -> (field, smallest accepted value, type)
_NUMBERS: dict[str, tuple[str, float, type]] = {
    "SUBLEDGER_API_PORT": ("api_port", 1, int),
    "SUBLEDGER_QUEUE_BATCH": ("batch_size", 1, int),
    "SUBLEDGER_QUEUE_MAX_TRIES": ("max_tries", 1, int),
    "SUBLEDGER_QUEUE_POLL_SECONDS": ("poll_seconds", 0.01, float),
    "SUBLEDGER_OUTBOX_RETENTION_HOURS": ("retention_hours", 0, float),
    "SUBLEDGER_QUEUE_LAG_WARN_SECONDS": ("lag_warn_seconds", 1, float),
}


def load_service_settings(settings: Settings, environ: dict[str, str] | None = None) -> ServiceSettings:
    """The service settings of ``settings.home``; :class:`ConfigError` names a bad variable and the fix."""
    home = read_home_settings(settings.home)
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        return env.get(name) or home.get(name) or None

    values: dict[str, object] = {}
    if get("SUBLEDGER_API_HOST"):
        values["api_host"] = get("SUBLEDGER_API_HOST")
    for variable, (name, floor, kind) in _NUMBERS.items():
        raw = get(variable)
        if raw is None:
            continue
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or value < floor or (name == "api_port" and value > 65535):
            default = getattr(ServiceSettings, name)
            raise ConfigError(f"{variable}={raw!r} must be a {'whole ' if kind is int else ''}number of at least {floor:g} "
                              f"(default {default}); fix it or unset it.")
        values[name] = value
    return ServiceSettings(**values)
