"""The ASGI application of ``subledger serve``: FastAPI routes over two connection pools.

Writes (intake, postings) use the writer role, reads the reader role; API keys are read as the
reader. The OpenAPI schema is served at ``/openapi.json`` (interactive at ``/docs``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from psycopg_pool import ConnectionPool

from ledger_pipelines.config import Settings
from ledger_pipelines.postgres.cluster import Dsns
from ledger_pipelines.service.api import errors
from ledger_pipelines.service.api.auth import KeyCache
from ledger_pipelines.service.api.metrics import Metrics
from ledger_pipelines.service.api.routes import router

POOL_SIZE = 16
DESCRIPTION = """The subledger recording API (docs/recording-service.md).

* **Asynchronous intake**: `POST /v1/events` (or `/v1/events/batch`) commits source events to the
  outbox and answers 202; workers (`subledger workers -n N`) post them. Idempotent by event id and
  content; follow an event with `GET /v1/events/{event_id}`.
* **Synchronous postings**: `POST /v1/transactions` (balance conditions, `lock_version`), moves and
  reversals; refusals carry the contract's reason codes.
* **Reads**: balances now / as of / known at, statements, transactions, quarantine.

Every route but `/healthz` needs an API key (`Authorization: Bearer sl_...`) with scope read, write
or admin. Amounts are integer minor units."""


def _configure(conn: psycopg.Connection) -> None:
    conn.execute("SET TIME ZONE 'UTC'")


def _pool(dsn: str, name: str) -> ConnectionPool:
    return ConnectionPool(dsn, min_size=1, max_size=POOL_SIZE, open=False, configure=_configure,
                          kwargs={"autocommit": True, "application_name": name})


def create_app(settings: Settings, dsns: Dsns) -> FastAPI:
    """The API for the ledger at ``dsns`` (the database is expected to be up and migrated)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.writer.open(wait=True, timeout=30)
        app.state.reader.open(wait=True, timeout=30)
        try:
            yield
        finally:
            app.state.writer.close()
            app.state.reader.close()

    app = FastAPI(title="subledger", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.writer = _pool(dsns.writer_dsn, "subledger-api")
    app.state.reader = _pool(dsns.reader_dsn, "subledger-api-read")
    app.state.keys = KeyCache()
    app.state.ledgers = {}
    app.state.metrics = Metrics(app.state.reader)
    errors.install(app)
    app.include_router(router)

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        app.state.metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        app.state.metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    return app
