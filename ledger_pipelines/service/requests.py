"""The API's synchronous requests, read into the ledger's own types with the contract's reason codes.

``POST /v1/transactions`` takes a transaction shaped like a ``journal.posted`` payload (legs with
optional ``conditions`` and ``lock_version``) plus its idempotency key and effective time, and
refuses what the contract refuses with the same codes (``amount_not_integer``,
``unknown_currency``, ``invalid_condition``, ``unbalanced``, ...). What is left to decide is
decided by :class:`ledger_pipelines.ledger.posting.Ledger` and the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ledger_pipelines.accounting.calendar import DATE_TEXT, start_of_day
from ledger_pipelines.accounting.errors import InvalidTransaction, UnbalancedTransaction
from ledger_pipelines.accounting.money import CODES
from ledger_pipelines.config import Settings
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ledger.model import INT64_MAX, Condition, Leg, NewTransaction
from ledger_pipelines.service.jsonbody import Number

_INTEGER_TEXT = re.compile(r"^-?[0-9]+$")
_DATE = re.compile(DATE_TEXT)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


class RequestError(ValueError):
    """A request the ledger can never accept; ``reason_code`` is the contract's."""

    def __init__(self, reason_code: str, message: str):
        self.reason_code = reason_code
        super().__init__(message)


@dataclass(frozen=True)
class MoveRequest:
    at: datetime | None
    transition_key: str | None
    reason: str | None


@dataclass(frozen=True)
class ReverseRequest:
    idempotency_key: str
    effective_at: datetime | None
    reason: str | None
    metadata: dict[str, str]


def _object(value: Any, what: str, code: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(code, f"{what} must be a JSON object.")
    return value


def _text(doc: dict, name: str, *, required: bool, code: str, limit: int = 512) -> str | None:
    value = doc.get(name)
    if value is None:
        if required:
            raise RequestError(R.MISSING_FIELD, f"{name} is required.")
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise RequestError(code, f"{name} must be a string of 1-{limit} characters.")
    return value


def parse_instant(value: Any, name: str, settings: Settings, *, required: bool) -> datetime | None:
    """An RFC 3339 timestamp with offset, or a date (the start of that day in the reporting time zone)."""
    if value is None:
        if required:
            raise RequestError(R.MISSING_FIELD, f"{name} is required (e.g. 2024-05-01T12:00:00Z or 2024-05-01).")
        return None
    if not isinstance(value, str):
        raise RequestError(R.INVALID_EFFECTIVE_AT, f"{name} must be a string (RFC 3339 timestamp with offset, or a date).")
    try:
        if _DATE.match(value):
            instant = start_of_day(date.fromisoformat(value), settings.tz)
        else:
            instant = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise RequestError(R.INVALID_EFFECTIVE_AT, f"{name}={value!r} is not an RFC 3339 timestamp nor a date YYYY-MM-DD.") from None
    if instant.tzinfo is None:
        raise RequestError(R.TIMESTAMP_WITHOUT_OFFSET, f"{name}={value!r} has no UTC offset; add Z or e.g. +02:00.")
    latest = datetime.now(UTC).replace(year=datetime.now(UTC).year + settings.max_future_years)
    if not EARLIEST <= instant <= latest:
        raise RequestError(R.EFFECTIVE_AT_OUT_OF_RANGE, f"{name}={value!r} is outside 1970-01-01 .. {latest.date()}.")
    return instant


def _amount(value: Any, where: str) -> int:
    if isinstance(value, bool) or isinstance(value, Number) or not isinstance(value, (int, str)):
        raise RequestError(R.AMOUNT_NOT_INTEGER, f"{where} must be an integer number of minor units (1250 for 12.50 USD).")
    if isinstance(value, str):
        if not _INTEGER_TEXT.match(value):
            raise RequestError(R.AMOUNT_NOT_INTEGER, f"{where}={value!r} must hold only an optional '-' and digits.")
        value = int(value)
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise RequestError(R.AMOUNT_OUT_OF_RANGE, f"{where} does not fit in a signed 64-bit integer.")
    return value


def _conditions(value: Any, where: str) -> tuple[Condition, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise RequestError(R.INVALID_CONDITION, f'{where} must look like {{"available": {{"gte": 0}}}}.')
    found = []
    for kind, bounds in value.items():
        if kind not in ("posted", "pending", "available") or not isinstance(bounds, dict) or not bounds:
            raise RequestError(R.INVALID_CONDITION, f'{where}.{kind}: name posted, pending or available with bounds like {{"gte": 0}}.')
        for op, bound in bounds.items():
            if op not in ("gte", "lte", "eq") or isinstance(bound, bool) or not isinstance(bound, int):
                raise RequestError(R.INVALID_CONDITION, f"{where}.{kind}.{op}: use gte, lte or eq with an integer bound.")
            found.append(Condition(kind, op, _amount(bound, f"{where}.{kind}.{op}")))
    return tuple(found)


def _leg(value: Any, number: int) -> Leg:
    where = f"legs[{number}]"
    leg = _object(value, where, R.INVALID_LEGS)
    unknown = set(leg) - {"account", "direction", "amount", "currency", "conditions", "lock_version"}
    if unknown:
        raise RequestError(R.INVALID_LEGS, f"{where} has unknown field(s) {sorted(unknown)}.")
    if leg.get("direction") not in ("debit", "credit"):
        raise RequestError(R.INVALID_LEGS, f"{where}.direction must be 'debit' or 'credit'.")
    if not isinstance(leg.get("account"), str):
        raise RequestError(R.INVALID_ACCOUNT, f"{where}.account must be an account code such as 'assets:cash'.")
    amount = _amount(leg.get("amount"), f"{where}.amount")
    if amount <= 0:
        raise RequestError(R.AMOUNT_NOT_POSITIVE, f"{where}.amount must be greater than zero; the direction gives the side.")
    currency = leg.get("currency")
    if currency not in CODES:
        raise RequestError(R.UNKNOWN_CURRENCY, f"{where}.currency={currency!r} is not an active ISO 4217 code (e.g. USD).")
    version = leg.get("lock_version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise RequestError(R.INVALID_LEGS, f"{where}.lock_version must be the account's version as read (an integer >= 0).")
    try:
        return Leg(leg["account"], leg["direction"], amount, currency, _conditions(leg.get("conditions"), f"{where}.conditions"),
                   version)
    except InvalidTransaction as exc:
        raise RequestError(R.INVALID_ACCOUNT, f"{where}.account: {exc}") from None


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise RequestError(R.INVALID_METADATA, 'metadata must be an object of string to string, e.g. {"region": "eu"}.')
    return value


def parse_transaction(document: Any, settings: Settings) -> NewTransaction:
    """``POST /v1/transactions`` body -> :class:`NewTransaction`, or :class:`RequestError`."""
    doc = _object(document, "the body", R.INVALID_PAYLOAD)
    unknown = set(doc) - {"idempotency_key", "effective_at", "status", "description", "metadata", "legs"}
    if unknown:
        raise RequestError(R.INVALID_PAYLOAD, f"unknown field(s) {sorted(unknown)}; see the OpenAPI schema (/openapi.json).")
    key = _text(doc, "idempotency_key", required=True, code=R.INVALID_EVENT_ID)
    status = doc.get("status", "posted")
    if status not in ("posted", "pending"):
        raise RequestError(R.INVALID_PAYLOAD, "status must be 'posted' or 'pending'.")
    description = doc.get("description")
    if description is not None and not isinstance(description, str):
        raise RequestError(R.INVALID_PAYLOAD, "description must be text.")
    legs = doc.get("legs")
    if not isinstance(legs, list) or len(legs) < 2:
        raise RequestError(R.INVALID_LEGS, "legs must be a list of at least two legs.")
    parsed = tuple(_leg(leg, n) for n, leg in enumerate(legs))
    try:
        return NewTransaction(key, parsed, parse_instant(doc.get("effective_at"), "effective_at", settings, required=True),
                              status=status, description=description, metadata=_metadata(doc.get("metadata")))
    except UnbalancedTransaction as exc:
        raise RequestError(R.UNBALANCED, str(exc)) from None


def parse_move(document: Any, settings: Settings) -> MoveRequest:
    """Body of ``POST /v1/transactions/{key}/post|archive`` (all optional)."""
    doc = _object(document if document is not None else {}, "the body", R.INVALID_PAYLOAD)
    return MoveRequest(parse_instant(doc.get("at"), "at", settings, required=False),
                       _text(doc, "transition_key", required=False, code=R.INVALID_EVENT_ID),
                       _text(doc, "reason", required=False, code=R.INVALID_PAYLOAD, limit=2000))


def parse_reverse(document: Any, settings: Settings) -> ReverseRequest:
    """Body of ``POST /v1/transactions/{key}/reverse``."""
    doc = _object(document, "the body", R.INVALID_PAYLOAD)
    return ReverseRequest(_text(doc, "idempotency_key", required=True, code=R.INVALID_EVENT_ID),
                          parse_instant(doc.get("effective_at"), "effective_at", settings, required=False),
                          _text(doc, "reason", required=False, code=R.INVALID_PAYLOAD, limit=2000),
                          _metadata(doc.get("metadata")))
