"""Asynchronous intake: events from the API into the outbox, durably, idempotently.

An accepted event is committed to ``ingest.outbox`` (its ``envelope`` column, the event's JSON
object exactly as sent: :mod:`ledger_pipelines.service.jsonbody`) before the API answers; the
workers then validate and post it like a line of a landed file, with the same reason codes.
Only what the API needs to answer is checked here: the body is JSON, each event is an object
with an ``event_id`` of 1-200 characters. A request is all or nothing: if one event is refused,
none is enqueued and the answer lists every refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.paths import read_sql
from ledger_pipelines.service.jsonbody import BodyError, Pairs, dumps, loads

MAX_EVENTS_PER_REQUEST = 10_000
MAX_EVENT_ID_LENGTH = 200


@dataclass(frozen=True)
class Refusal:
    index: int | None
    event_id: object
    reason_code: str
    message: str

    def as_json(self) -> dict[str, object]:
        return {"index": self.index, "event_id": self.event_id, "reason_code": self.reason_code, "message": self.message}


class IntakeRefused(Exception):
    """The request is refused as a whole; nothing was enqueued."""

    def __init__(self, refusals: list[Refusal]):
        self.refusals = refusals
        super().__init__("; ".join(r.message for r in refusals[:3]) + (" ..." if len(refusals) > 3 else ""))


@dataclass(frozen=True)
class Incoming:
    event_id: str
    envelope: str  # one line of JSON, as sent


@dataclass(frozen=True)
class Accepted:
    event_id: str
    outbox_id: int
    already_enqueued: bool  # the same event was enqueued before (or earlier in this request)

    def as_json(self) -> dict[str, object]:
        return {"event_id": self.event_id, "status": "accepted", "outbox_id": self.outbox_id,
                "already_enqueued": self.already_enqueued}


def parse_events(body: bytes, *, batch: bool) -> list[Incoming]:
    """The events of a request body: one event object, or (``batch``) ``{"events": [...]}``."""
    try:
        document = loads(body)
    except BodyError as exc:
        raise IntakeRefused([Refusal(None, None, R.MALFORMED_JSON, f"{exc}. Send one JSON object.")]) from None
    if batch:
        events = document.get("events") if isinstance(document, Pairs) else None
        if not isinstance(events, list) or not events:
            raise IntakeRefused([Refusal(None, None, R.MALFORMED_JSON,
                                         'the body must be {"events": [event, ...]} with at least one event.')])
        if len(events) > MAX_EVENTS_PER_REQUEST:
            raise IntakeRefused([Refusal(None, None, R.MALFORMED_JSON, f"{len(events)} events in one request; send at most "
                                         f"{MAX_EVENTS_PER_REQUEST} per request (split the batch).")])
    else:
        events = [document]
    refusals: list[Refusal] = []
    incoming: list[Incoming] = []
    for index, event in enumerate(events):
        problem = _problem(event)
        if problem is not None:
            refusals.append(Refusal(index if batch else None, event.get("event_id") if isinstance(event, Pairs) else None,
                                    *problem))
        else:
            incoming.append(Incoming(event.get("event_id"), dumps(event)))
    if refusals:
        raise IntakeRefused(refusals)
    return incoming


def _problem(event: Any) -> tuple[str, str] | None:
    if not isinstance(event, Pairs):
        return R.MALFORMED_JSON, "an event must be a JSON object (docs/source-events.md, Envelope)."
    if not any(name == "event_id" for name, _ in event):
        return R.MISSING_FIELD, "the event has no event_id; give every event a stable id (it is the idempotency key)."
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_EVENT_ID_LENGTH:
        return R.INVALID_EVENT_ID, (f"event_id must be a string of 1-{MAX_EVENT_ID_LENGTH} characters, got "
                                    f"{dumps(event_id)[:60]}; use a stable string id such as a UUID.")
    repeated = event.repeated()
    if repeated == "event_id":
        return R.MALFORMED_JSON, "the event holds the key 'event_id' twice; send each key once."
    return None


def enqueue(conn: psycopg.Connection, events: list[Incoming]) -> list[Accepted]:
    """Commit ``events`` to the outbox in one transaction (``sql/service/enqueue.sql``)."""
    with conn.transaction():
        rows = conn.execute(read_sql("service/enqueue.sql"), {
            "event_ids": [e.event_id for e in events], "envelopes": [e.envelope for e in events],
        }).fetchall()
    return [Accepted(events[n - 1].event_id, outbox_id, known) for n, outbox_id, known in rows]
