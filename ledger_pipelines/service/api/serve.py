"""The app factory uvicorn loads in each server process (``subledger serve``)."""

from __future__ import annotations

from fastapi import FastAPI

from ledger_pipelines.config import load_settings
from ledger_pipelines.postgres.database import database_dsns
from ledger_pipelines.service.api.app import create_app


def app() -> FastAPI:
    """The API for ``SUBLEDGER_*`` of this process (the database was started and migrated by ``serve``)."""
    settings = load_settings()
    return create_app(settings, database_dsns(settings))
