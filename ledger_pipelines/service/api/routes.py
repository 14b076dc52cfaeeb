"""The routes of the API (docs/recording-service.md has the guide; ``/openapi.json`` the schema).

Handlers are plain functions run in the server's thread pool, each on a pooled connection: the
writer's for intake and postings, the reader's for everything else.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from ledger_pipelines.accounting.calendar import TimeInputError, parse_instant
from ledger_pipelines.ledger.balances import balances as read_balances
from ledger_pipelines.ledger.ids import account_id
from ledger_pipelines.ledger.model import PostedTransaction
from ledger_pipelines.ledger.posting import Ledger
from ledger_pipelines.paths import read_sql
from ledger_pipelines.service import intake, requests, statements
from ledger_pipelines.service.api import schemas
from ledger_pipelines.service.api.auth import require
from ledger_pipelines.service.api.errors import ApiError
from ledger_pipelines.service.jsonbody import BodyError, loads, plain
from ledger_pipelines.service.keys import ApiKey

router = APIRouter()
Reader = Annotated[ApiKey, Depends(require("read"))]
Writer = Annotated[ApiKey, Depends(require("write"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]
MAX_BODY_BYTES = 64 << 20


# -- helpers ------------------------------------------------------------------------------------
def _body(request_body: bytes) -> Any:
    if len(request_body) > MAX_BODY_BYTES:
        raise ApiError(413, "request_too_large", f"the body is larger than {MAX_BODY_BYTES >> 20} MiB; split it.")
    if not request_body.strip():
        return None
    try:
        return plain(loads(request_body))
    except (BodyError, ValueError) as exc:
        raise ApiError(400, "malformed_json", f"{exc}.") from None


def _instant(request: Request, value: str | None, name: str) -> datetime | None:
    """A read's time parameter as the CLI reads it: a date is the END of that day (interfaces.md)."""
    if value is None:
        return None
    try:
        return parse_instant(value, request.app.state.settings.tz, what=name)
    except (TimeInputError, OverflowError, ValueError) as exc:
        raise ApiError(422, "invalid_parameter", str(exc)) from None


def _ledger(request: Request, conn: psycopg.Connection, key: ApiKey) -> Ledger:
    """A :class:`Ledger` for this pooled connection (it keeps the account types and known accounts)."""
    cache: dict[int, Ledger] = request.app.state.ledgers
    ledger = cache.get(id(conn))
    if ledger is None or ledger.conn is not conn:
        ledger = cache[id(conn)] = Ledger(conn)
    ledger.actor = f"api:{key.key_id}:{key.name}"
    return ledger


def _transaction(conn: psycopg.Connection, key: str) -> dict[str, object] | None:
    try:
        as_id = str(uuid.UUID(key))
    except ValueError:
        as_id = None
    row = conn.execute(read_sql("service/transaction.sql"), {"key": key, "id": as_id}).fetchone()
    if row is None:
        return None
    names = ("transaction_id", "idempotency_key", "status", "effective_at", "created_at", "posted_at", "archived_at",
             "reverses_transaction_id", "reversed_by", "reference", "source_event_id", "event_type", "batch_id",
             "description", "metadata", "legs")
    found = dict(zip(names, row, strict=True))
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in found.items()}


def _written(request: Request, conn: psycopg.Connection, posted: PostedTransaction) -> JSONResponse:
    """A write's answer: the transaction as stored and the balances of its accounts right after."""
    transaction = _transaction(conn, posted.transaction_id)
    pairs = sorted({(leg["account"], leg["currency"]) for leg in transaction["legs"]})
    accounts = sorted({account for account, _ in pairs})
    found = [b.as_dict() for b in read_balances(conn, accounts) if (b.account, b.currency) in set(pairs)]
    return JSONResponse({"created": posted.created, "transaction": transaction, "balances": found},
                        status_code=201 if posted.created else 200)


# -- health -------------------------------------------------------------------------------------
@router.get("/healthz", tags=["service"], summary="Liveness: the API answers and reaches the ledger (no key needed).")
def healthz(request: Request) -> dict[str, str]:
    try:
        with request.app.state.reader.connection(timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is "unhealthy"
        raise ApiError(503, "database_unavailable", f"the ledger database cannot be reached ({type(exc).__name__}).") from None
    return {"status": "ok"}


@router.get("/metrics", tags=["service"], summary="Prometheus metrics: queue depth, oldest waiting event, lag, requests.",
            response_class=Response)
def metrics(request: Request, key: Reader) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


# -- asynchronous intake -------------------------------------------------------------------------
def _enqueue(request: Request, body: bytes, *, batch: bool) -> JSONResponse:
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "request_too_large", f"the body is larger than {MAX_BODY_BYTES >> 20} MiB; split the batch.")
    events = intake.parse_events(body, batch=batch)
    with request.app.state.writer.connection() as conn:
        accepted = intake.enqueue(conn, events)
    document = {"accepted": len(accepted), "events": [a.as_json() for a in accepted]}
    return JSONResponse(document if batch else document["events"][0], status_code=202)


@router.post("/v1/events", status_code=202, tags=["events"], openapi_extra=schemas.body(schemas.EVENT),
             summary="Enqueue one source event (asynchronous; idempotent by event_id and content).")
async def post_event(request: Request, key: Writer) -> JSONResponse:
    body = await request.body()
    return await _in_thread(_enqueue, request, body, batch=False)


@router.post("/v1/events/batch", status_code=202, tags=["events"], openapi_extra=schemas.body(schemas.EVENT_BATCH),
             summary="Enqueue up to 10,000 events in order, all or none.")
async def post_events(request: Request, key: Writer) -> JSONResponse:
    body = await request.body()
    return await _in_thread(_enqueue, request, body, batch=True)


async def _in_thread(function, *args, **kwargs):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args, **kwargs)


@router.get("/v1/events/{event_id}", tags=["events"],
            summary="What became of an event: queued, posted, pending, duplicate or quarantined (with the reason).")
def get_event(request: Request, event_id: str, key: Reader) -> dict[str, object]:
    with request.app.state.reader.connection() as conn:
        row = conn.execute(read_sql("service/event_status.sql"), {"event_id": event_id}).fetchone()
        if row is None:
            outcome = conn.execute(read_sql("service/event_outcome.sql"), {"event_id": event_id}).fetchone()
            if outcome is None:
                raise ApiError(404, "unknown_event", f"no event {event_id!r} was received (or it was pruned and never posted).")
            status, reason, transaction_id, at, batch_id, message = outcome
            return {"event_id": event_id, "status": status, "reason_code": reason, "message": message,
                    "transaction_id": transaction_id, "batch_id": batch_id, "processed_at": at.isoformat()}
    outbox_id, inserted_at, processed_at, tries, last_error, available_at, batch_id, outcome, reason, transaction_id, message = row
    status = outcome or ("processing" if processed_at is None and tries > 0 and last_error is None else "queued")
    document = {"event_id": event_id, "status": status, "outbox_id": outbox_id, "accepted_at": inserted_at.isoformat(),
                "processed_at": processed_at.isoformat() if processed_at else None, "tries": tries,
                "reason_code": reason, "message": message, "transaction_id": transaction_id, "batch_id": batch_id}
    if processed_at is None and last_error:
        document.update(last_error=last_error, retry_after=available_at.isoformat())
    return document


# -- synchronous postings ------------------------------------------------------------------------
def _post(request: Request, document: Any, key: ApiKey) -> JSONResponse:
    transaction = requests.parse_transaction(document, request.app.state.settings)
    with request.app.state.writer.connection() as conn:
        posted = _ledger(request, conn, key).post(transaction)
        return _written(request, conn, posted)


@router.post("/v1/transactions", tags=["transactions"], openapi_extra=schemas.body(schemas.TRANSACTION),
             summary="Post (or hold pending) one transaction now: 201 with the transaction and its accounts' balances, "
                     "200 for a replay of the same idempotency key and content, or the typed refusal.")
async def post_transaction(request: Request, key: Writer) -> JSONResponse:
    return await _in_thread(_post, request, _body(await request.body()), key)


def _move(request: Request, target: str, to_status: str, document: Any, key: ApiKey) -> JSONResponse:
    move = requests.parse_move(document, request.app.state.settings)
    with request.app.state.writer.connection() as conn:
        posted = _ledger(request, conn, key).move(target, to_status, at=move.at, transition_key=move.transition_key,
                                                  transition_hash=_transition_hash(to_status, move), reason=move.reason)
        return _written(request, conn, posted)


def _transition_hash(to_status: str, move: requests.MoveRequest) -> str | None:
    """What a replay of a keyed move must repeat: the target status and, when given, its time."""
    if move.transition_key is None:
        return None
    return f"{to_status}@{move.at.astimezone(UTC).isoformat() if move.at else '-'}"


@router.post("/v1/transactions/{target}/post", tags=["transactions"], openapi_extra=schemas.body(schemas.MOVE, required=False),
             summary="Post a pending transaction (by idempotency key or id); `at` is its posted_at (default now).")
async def post_pending(request: Request, target: str, key: Writer) -> JSONResponse:
    return await _in_thread(_move, request, target, "posted", _body(await request.body()), key)


@router.post("/v1/transactions/{target}/archive", tags=["transactions"],
             openapi_extra=schemas.body(schemas.MOVE, required=False),
             summary="Archive a pending transaction: its entries stop counting anywhere.")
async def archive_pending(request: Request, target: str, key: Writer) -> JSONResponse:
    return await _in_thread(_move, request, target, "archived", _body(await request.body()), key)


def _reverse(request: Request, target: str, document: Any, key: ApiKey) -> JSONResponse:
    reverse = requests.parse_reverse(document, request.app.state.settings)
    with request.app.state.writer.connection() as conn:
        posted = _ledger(request, conn, key).reverse(target, idempotency_key=reverse.idempotency_key,
                                                     effective_at=reverse.effective_at, reason=reverse.reason,
                                                     metadata=reverse.metadata)
        return _written(request, conn, posted)


@router.post("/v1/transactions/{target}/reverse", tags=["transactions"], openapi_extra=schemas.body(schemas.REVERSE),
             summary="Post the reversal of a posted transaction (every leg flipped, linked to it).")
async def reverse_posted(request: Request, target: str, key: Writer) -> JSONResponse:
    return await _in_thread(_reverse, request, target, _body(await request.body()), key)


@router.get("/v1/transactions/{target}", tags=["transactions"], summary="A transaction by idempotency key or id, with its legs.")
def get_transaction(request: Request, target: str, key: Reader) -> dict[str, object]:
    with request.app.state.reader.connection() as conn:
        found = _transaction(conn, target)
    if found is None:
        raise ApiError(404, "unknown_target", f"no transaction has the idempotency key or id {target!r}.")
    return found


# -- balances and statements -------------------------------------------------------------------
def _balances(request: Request, accounts: list[str], currency: str | None, as_of: str | None,
              known_at: str | None) -> list[dict[str, object]]:
    with request.app.state.reader.connection() as conn:
        found = read_balances(conn, accounts, currency=currency, as_of=_instant(request, as_of, "as_of"),
                              known_at=_instant(request, known_at, "known_at"))
    return [b.as_dict() for b in found]


@router.get("/v1/balances", tags=["balances"],
            summary="Balances of the named accounts, one per account and currency (interfaces.md shape): now, as of an "
                    "effective time (a date is the end of that day) and/or as known at a system time.")
def get_balances(request: Request, key: Reader, account: Annotated[list[str], Query(min_length=1, max_length=1000)],
                 currency: str | None = None, as_of: str | None = None, known_at: str | None = None) -> list[dict[str, object]]:
    return _balances(request, account, currency, as_of, known_at)


@router.get("/v1/accounts/{account:path}/statement", tags=["balances"],
            summary="An account's statement: opening posted balance, entries with running balance, closing balance "
                    "(from/to: a date means that whole day; paginated with next_cursor).")
def get_statement(request: Request, account: str, key: Reader, currency: str | None = None,
                  from_: Annotated[str | None, Query(alias="from")] = None, to: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=5000)] = 500, cursor: str | None = None) -> dict[str, object]:
    start = _instant(request, _day_before(from_), "from") if from_ else None
    end = _instant(request, to, "to")
    with request.app.state.reader.connection() as conn:
        return statements.statement(conn, account, currency=currency, start=start, end=end, limit=limit,
                                    cursor=cursor).as_json()


def _day_before(value: str) -> str:
    """``from=2024-05-01`` starts the statement at the start of that day: the opening is the end of the day before."""
    from datetime import date, timedelta

    try:
        return (date.fromisoformat(value) - timedelta(days=1)).isoformat() if len(value) == 10 else value
    except ValueError:
        return value


@router.get("/v1/accounts/{account:path}/balances", tags=["balances"], summary="One account's balances, one per currency.")
def get_account_balances(request: Request, account: str, key: Reader, currency: str | None = None, as_of: str | None = None,
                         known_at: str | None = None) -> list[dict[str, object]]:
    found = _balances(request, [account], currency, as_of, known_at)
    if not found:
        with request.app.state.reader.connection() as conn:
            exists = conn.execute("SELECT 1 FROM ledger.accounts WHERE account_id = %s",
                                  [str(account_id(account))]).fetchone()
        if exists is None:
            raise ApiError(404, "unknown_account", f"account {account!r} does not exist; check the code (compared exactly).")
    return found


# -- quarantine -----------------------------------------------------------------------------------
@router.get("/v1/quarantine", tags=["quarantine"],
            summary="Quarantined events, newest first, with reason code, message and the raw event (admin: raw events "
                    "may hold customer data). Paginate with next_cursor.")
def get_quarantine(request: Request, key: Admin, reason: str | None = None, event_id: str | None = None,
                   include_resolved: bool = False, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   cursor: str | None = None) -> dict[str, object]:
    before_at, before_id = datetime(9999, 12, 31, tzinfo=UTC), "ffffffff-ffff-ffff-ffff-ffffffffffff"
    if cursor:
        try:
            at, before_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
            before_at = datetime.fromisoformat(at)
            uuid.UUID(before_id)
        except ValueError:
            raise ApiError(422, "invalid_cursor", "the cursor is not one this API returned; start again without it.") from None
    with request.app.state.reader.connection() as conn:
        rows = conn.execute(read_sql("service/quarantine.sql"), {
            "include_resolved": include_resolved, "reason": reason, "event_id": event_id, "before_at": before_at,
            "before_id": before_id, "limit": limit + 1}).fetchall()
    items = []
    for row in rows[:limit]:
        (quarantine_id, at, ev_id, ev_type, code, message, raw, source, line_no, batch_id, resolved_at, resolution,
         resolved_tx, file_path) = row
        raw = bytes(raw)
        try:
            shown = {"raw": raw.decode("utf-8")}
        except UnicodeDecodeError:
            shown = {"raw_base64": base64.b64encode(raw).decode()}
        items.append({"quarantine_id": quarantine_id, "quarantined_at": at.isoformat(), "event_id": ev_id,
                      "event_type": ev_type, "reason_code": code, "message": message, **shown, "source": source,
                      "line_no": line_no, "batch_id": batch_id, "file_path": file_path,
                      "resolved_at": resolved_at.isoformat() if resolved_at else None, "resolution": resolution,
                      "resolved_transaction_id": resolved_tx})
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = base64.urlsafe_b64encode(f"{last[1].isoformat()}|{last[0]}".encode()).decode().rstrip("=")
    return {"items": items, "next_cursor": next_cursor}
