"""Validation: raw envelope JSON text -> typed, normalised events, or one reason per rejected event.

Two stages, both declarative (:class:`~ledger_pipelines.ingest.row_checks.CheckSpec` lists run
through Pandera by :func:`~ledger_pipelines.ingest.row_checks.run_checks`):

1. the envelope (every event, :mod:`.envelope`): event_id, event_type, effective_at, recorded_at,
   the ids, metadata, payload shape, and the envelope fields the event type's posting rule needs
   (amount, currency);
2. the payload, per event type (:mod:`.payload`), from the rule's ``payload`` declaration;
   ``journal.posted`` legs are checked leg by leg (:mod:`ledger_pipelines.ingest.journal`).

:mod:`.fields` holds the checks both stages share (integers, strings), :mod:`.columns` the frames
validation returns, :mod:`.events` the whole run (:func:`validate_events`).

Normalisation (documented in docs/source-events.md):

* an empty string counts as absent (a CSV cannot tell the two apart);
* ``effective_at``: RFC 3339 with offset -> that instant; a bare date -> the start of that day in
  the reporting time zone (00:00, or 01:00 where a clock change skips midnight); fractions beyond
  microseconds are truncated; the instant is kept in UTC (:mod:`ledger_pipelines.accounting.calendar`);
* ``recorded_at`` defaults to the ingestion time;
* integers (amounts, integer payload fields) may be JSON integers or decimal strings ("1250");
  anything with a fraction or an exponent is refused, never rounded;
* metadata becomes a canonical JSON object (keys sorted); unknown top-level fields are added to
  it (strings as they are, other values as their JSON text).

String fields keep their JSON text (``<field>_json``, yyjson's canonical escaping) next to the
decoded value, so hashing and the ``source`` document never re-encode them.
"""

from ledger_pipelines.ingest.validation.columns import EVENT_COLUMNS, REJECT_COLUMNS, Validated
from ledger_pipelines.ingest.validation.events import validate_events
from ledger_pipelines.ingest.validation.payload import payload_column

__all__ = ["EVENT_COLUMNS", "REJECT_COLUMNS", "Validated", "payload_column", "validate_events"]
