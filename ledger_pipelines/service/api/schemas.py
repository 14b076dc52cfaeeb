"""JSON schemas of the request bodies, for the OpenAPI document only.

The bodies themselves are read by :mod:`ledger_pipelines.service.intake` and
:mod:`ledger_pipelines.service.requests` (so that refusals carry the contract's reason codes
and nothing is coerced); these schemas describe what those accept.
"""

from __future__ import annotations

_INSTANT = {"type": "string", "description": "RFC 3339 timestamp with offset, or a date YYYY-MM-DD",
            "examples": ["2024-05-01T12:00:00Z"]}
_AMOUNT = {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]+$"}],
           "description": "integer minor units (1250 = 12.50 USD)"}
_METADATA = {"type": "object", "additionalProperties": {"type": "string"}}

EVENT = {
    "type": "object",
    "description": "A source event, the envelope of docs/source-events.md. Enqueued as sent; validated and posted by the "
                   "workers (an invalid event is quarantined with its reason code, see GET /v1/events/{event_id}).",
    "required": ["event_id", "event_type", "effective_at"],
    "properties": {
        "event_id": {"type": "string", "minLength": 1, "maxLength": 200},
        "event_type": {"type": "string", "examples": ["invoice.issued"]},
        "effective_at": _INSTANT,
        "recorded_at": {"type": "string"},
        "subscription_id": {"type": "string"},
        "customer_id": {"type": "string"},
        "amount": _AMOUNT,
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "payload": {"type": "object"},
        "metadata": _METADATA,
    },
}
EVENT_BATCH = {"type": "object", "required": ["events"],
               "properties": {"events": {"type": "array", "items": EVENT, "minItems": 1, "maxItems": 10000}}}

LEG = {
    "type": "object", "required": ["account", "direction", "amount", "currency"], "additionalProperties": False,
    "properties": {
        "account": {"type": "string", "examples": ["assets:cash"]},
        "direction": {"enum": ["debit", "credit"]},
        "amount": _AMOUNT,
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "conditions": {"type": "object", "description": 'bounds after the transaction, e.g. {"available": {"gte": 0}}',
                       "additionalProperties": {"type": "object",
                                                "additionalProperties": {"type": "integer"}}},
        "lock_version": {"type": "integer", "minimum": 0, "description": "the account's lock_version as last read"},
    },
}
TRANSACTION = {
    "type": "object", "required": ["idempotency_key", "effective_at", "legs"], "additionalProperties": False,
    "properties": {
        "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 512},
        "effective_at": _INSTANT,
        "status": {"enum": ["posted", "pending"], "default": "posted"},
        "description": {"type": "string"},
        "metadata": _METADATA,
        "legs": {"type": "array", "items": LEG, "minItems": 2},
    },
}
MOVE = {"type": "object", "properties": {
    "at": _INSTANT, "transition_key": {"type": "string", "description": "makes repeating the move a no-op"},
    "reason": {"type": "string"}}}
REVERSE = {"type": "object", "required": ["idempotency_key"], "properties": {
    "idempotency_key": {"type": "string"}, "effective_at": _INSTANT, "reason": {"type": "string"}, "metadata": _METADATA}}


def body(schema: dict, *, required: bool = True) -> dict:
    """``openapi_extra`` for a route whose JSON body is ``schema``."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}
