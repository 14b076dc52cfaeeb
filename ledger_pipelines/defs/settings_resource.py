"""The one resource every domain shares: the platform's settings (``SUBLEDGER_*``)."""

from __future__ import annotations

import dagster as dg

from ledger_pipelines.config import Settings, load_settings


class SubledgerSettings(dg.ConfigurableResource):
    """Reads ``SUBLEDGER_*`` from the environment of the process that runs the op."""

    def get(self) -> Settings:
        return load_settings()
