"""Every refusal is JSON: ``{"error": {"reason_code": ..., "message": ..., "details": ...}}``.

Reason codes are the contract's (docs/source-events.md) wherever the contract has one, so an
event refused synchronously and the same event quarantined asynchronously carry the same code.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger_pipelines.accounting import errors as E
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.service.intake import IntakeRefused
from ledger_pipelines.service.requests import RequestError
from ledger_pipelines.service.statements import StatementError

LOG = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, reason_code: str, message: str, details: object = None,
                 headers: dict[str, str] | None = None):
        self.status, self.reason_code, self.details, self.headers = status, reason_code, details, headers
        super().__init__(message)


def error_response(status: int, reason_code: str, message: str, details: object = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, object] = {"reason_code": reason_code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


#: ledger refusal -> (HTTP status, reason code)
_LEDGER: list[tuple[type[E.LedgerError], int, str]] = [
    (E.BalanceConditionFailed, 422, "balance_condition_failed"),
    (E.VersionConflict, 409, "version_conflict"),
    (E.IdempotencyConflict, 409, R.EVENT_ID_CONFLICT),
    (E.InvalidTransition, 409, "invalid_transition"),
    (E.UnknownTransaction, 404, "unknown_target"),
    (E.PeriodClosed, 422, "period_closed"),
    (E.UnbalancedTransaction, 422, R.UNBALANCED),
]


def ledger_error_response(exc: E.LedgerError) -> JSONResponse:
    for kind, status, code in _LEDGER:
        if isinstance(exc, kind):
            details = None
            if isinstance(exc, E.BalanceConditionFailed):
                details = [vars(f) for f in exc.failures]
            elif isinstance(exc, E.VersionConflict):
                details = [vars(m) for m in exc.mismatches]
            return error_response(status, code, str(exc), details)
    if exc.sqlstate == "LDG06" or getattr(exc, "field", None) == "account":
        return error_response(422, R.INVALID_ACCOUNT, str(exc))
    return error_response(422, exc.reason_code, str(exc))


def install(app: FastAPI) -> None:
    """Register the handlers that turn every known refusal into the JSON error shape."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.reason_code, str(exc), exc.details, exc.headers)

    @app.exception_handler(RequestError)
    async def _request(request: Request, exc: RequestError) -> JSONResponse:
        return error_response(422, exc.reason_code, str(exc))

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> JSONResponse:
        return error_response(404 if exc.reason_code == "unknown_account" else 422, exc.reason_code, str(exc))

    @app.exception_handler(IntakeRefused)
    async def _intake(request: Request, exc: IntakeRefused) -> JSONResponse:
        first = exc.refusals[0]
        return error_response(422 if first.index is not None or first.event_id is not None else 400, first.reason_code,
                              f"nothing was enqueued: {exc}", [r.as_json() for r in exc.refusals])

    @app.exception_handler(E.LedgerError)
    async def _ledger(request: Request, exc: E.LedgerError) -> JSONResponse:
        return ledger_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg")} for e in exc.errors()]
        return error_response(422, "invalid_parameter", "a parameter is invalid: " + "; ".join(
            f"{d['where']}: {d['problem']}" for d in details), details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        LOG.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "the request failed unexpectedly; nothing is known to be written "
                              "unless a later read shows it. Retry with the same idempotency key (safe), and report it if "
                              "it persists (the server log has the details).")
