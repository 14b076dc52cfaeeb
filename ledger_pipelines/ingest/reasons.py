"""Reason codes: why an event (or a whole file) was quarantined, and what the producer should do.

Every rejection anywhere in ingestion carries exactly one code from :data:`REASONS` plus a
human message that names the field, shows the offending value (truncated) and says what to do.
The front end (readers, validation, mapping) produces the codes whose ``stage`` is ``file``,
``line`` or ``event``; the database side (``ledger_pipelines.ledger.bulk``) adds the ``ledger``
ones. ``docs/source-events.md`` lists the same table; a unit test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    """One reason code: what it means, where it is decided, and how the producer fixes it."""

    code: str
    stage: str  # 'file' | 'line' | 'event' | 'batch' | 'ledger'
    meaning: str
    fix: str
    example: str


_TABLE: tuple[Reason, ...] = (
    Reason("unreadable_file", "file",
           "The whole file could not be read: not UTF-8 text (e.g. UTF-16), not gzip although named .gz, "
           "a truncated or corrupt Parquet file, or a CSV without the required header columns; or processing it "
           "failed with an unexpected error (the message names it; nothing from the file was posted).",
           "Re-export the file as UTF-8 (JSON lines, gzip, CSV with a header, or Parquet) and drop it again; if it "
           "follows docs/source-events.md, report the message.",
           "a UTF-16 encoded `events.jsonl`; `events.jsonl.gz` that is plain text"),
    Reason("malformed_json", "line",
           "The line is not one well-formed JSON object: broken syntax, an array or scalar instead of an "
           "object, a key that appears twice in any object (at any depth), nesting deeper than 64 levels, or bytes "
           "that are not UTF-8 (a line, or a binary Parquet cell).",
           "Write exactly one JSON object per line (no trailing commas, no comments, unique keys in every object, "
           "at most 64 levels deep).",
           '`{"event_id": "e1", "amount": 100,}`'),
    Reason("malformed_csv_row", "line",
           "A CSV row has a different number of fields than the header (often an unescaped quote or comma).",
           "Quote fields that contain commas, quotes or newlines (RFC 4180) and double embedded quotes.",
           '`e1,invoice.issued,2024-01-01,"unterminated`'),
    Reason("event_too_large", "line",
           "One event (JSON line, CSV row or Parquet row) is larger than 1 MiB.",
           "Keep events small: move large documents elsewhere and reference them by id in metadata.",
           "a 2 MiB description in the payload"),
    Reason("control_characters", "event",
           "A string (or the raw line) contains a control character such as NUL, ESC or a raw tab in a value.",
           "Remove control characters from identifiers and text; they are never meaningful in ledger data.",
           '`"event_id": "e\\u0000"`'),
    Reason("missing_field", "event",
           "A required field is absent, null or empty: an envelope field (event_id, event_type, effective_at, or "
           "one the event type needs such as subscription_id, amount, currency) or a payload field the posting rule reads.",
           "Send the field named in the message; see docs/source-events.md for what each event type needs.",
           "`invoice.issued` without `payload.plan_id`"),
    Reason("invalid_field", "event",
           "An envelope field has the wrong JSON type or shape (e.g. `subscription_id` as a number or object, "
           "or longer than 200 characters).",
           "Send the field as a JSON string of 1-200 characters.",
           '`"customer_id": 42`'),
    Reason("invalid_event_id", "event",
           "`event_id` is not a string of 1-200 characters.",
           "Use a stable string id of at most 200 characters, unique per source (e.g. a UUID).",
           '`"event_id": 12345` or a 300-character id'),
    Reason("unknown_event_type", "event",
           "`event_type` is not one of the built-in types nor one handled by a configured posting rule.",
           "Use a documented type, or add a posting rule for it (docs/posting-rules.md, SUBLEDGER_RULES_PATH).",
           '`"event_type": "invoice.issuedd"`'),
    Reason("invalid_effective_at", "event",
           "`effective_at` is not an RFC 3339 timestamp nor a date YYYY-MM-DD (or it names a day that does not exist).",
           "Write e.g. `2024-03-31T23:00:00+02:00`, `2024-03-31T21:00:00Z` or the date `2024-03-31`.",
           '`"effective_at": "31/03/2024"`'),
    Reason("timestamp_without_offset", "event",
           "`effective_at` is a timestamp without a UTC offset, so it could mean different instants.",
           "Add the offset (`Z` for UTC or e.g. `+02:00`), or send a bare date if only the day matters.",
           '`"effective_at": "2024-03-31T10:00:00"`'),
    Reason("effective_at_out_of_range", "event",
           "`effective_at` is before 1970-01-01 or more than the configured number of years "
           "(SUBLEDGER_MAX_FUTURE_YEARS, default 10) after ingestion.",
           "Check the date (a wrong century or a Unix-seconds/milliseconds mix-up is the usual cause).",
           '`"effective_at": "1900-01-01"`'),
    Reason("invalid_recorded_at", "event",
           "`recorded_at` is present but not an RFC 3339 timestamp with offset within 1970 .. ingestion + max years.",
           "Send the source's own record time with an offset, or leave the field out (it defaults to ingestion time).",
           '`"recorded_at": "yesterday"`'),
    Reason("amount_not_integer", "event",
           "An amount is not an integer number of minor units: a JSON number with a fraction or exponent "
           "(`100.5`, `100.0`, `1e3`), a decimal string with a fraction (`\"12.50\"`), a boolean, an object, ...",
           "Send integer minor units (cents for USD, yen for JPY, fils for KWD): 12.50 USD is `1250`.",
           '`"amount": 12.5`'),
    Reason("amount_out_of_range", "event",
           "An amount (or an amount the posting rule computes, e.g. quantity x unit_amount, or a currency total "
           "of a journal) does not fit in a signed 64-bit integer.",
           "Check the unit: amounts are minor units and must be between -9223372036854775808 and 9223372036854775807.",
           '`"amount": 9223372036854775808`'),
    Reason("amount_not_positive", "event",
           "An amount that must be greater than zero is zero or negative.",
           "Send a positive amount; to undo a posting send a reversal (transaction.reversed) or a refund/credit event.",
           '`"amount": -100`'),
    Reason("unknown_currency", "event",
           "The currency is not an active ISO 4217 alpha-3 code in upper case.",
           "Use the upper-case ISO 4217 code, e.g. `USD`, `EUR`, `JPY` (not `usd`, `US$`).",
           '`"currency": "usd"`'),
    Reason("invalid_payload", "event",
           "`payload` is not a JSON object, or one of its fields has the wrong type or format "
           "(e.g. a date that is not YYYY-MM-DD, a status other than posted/pending).",
           "Send the payload documented for the event type (docs/source-events.md).",
           '`"payload": "invoice 42"`'),
    Reason("invalid_metadata", "event",
           "`metadata` is not an object of string to string, or an unknown top-level field collides with a metadata key.",
           "Send metadata as a flat object whose values are strings, e.g. `{\"region\": \"eu\"}`.",
           '`"metadata": {"retries": 3}`'),
    Reason("invalid_account", "event",
           "An account code (from a journal leg, or rendered by a posting rule from e.g. subscription_id) is not a "
           "valid code path: empty segment, more than 32 segments, a segment longer than 64 characters, a non-printable "
           "or bidirectional-override character, a ':' inside a value put into one segment, or a top-level segment "
           "that is not a configured account type.",
           "Name accounts like `assets:receivables:sub_42`; ids used inside account codes must not contain ':'.",
           '`"account": "assets::cash"`'),
    Reason("unbalanced", "event",
           "A journal's debit and credit amounts differ for at least one currency.",
           "Make the debits equal the credits per currency (add the missing leg, e.g. fees).",
           "debit 1000 USD, credit 990 USD"),
    Reason("invalid_legs", "event",
           "A journal's `legs` is not a list of at least two leg objects with account, direction (debit/credit), "
           "amount and currency, or a leg has an unknown field or a bad lock_version.",
           "Send at least two legs like `{\"account\": \"assets:cash\", \"direction\": \"debit\", \"amount\": 100, \"currency\": \"USD\"}`.",
           '`"legs": [{"account": "assets:cash", "direction": "up"}]`'),
    Reason("invalid_condition", "event",
           "A leg's `conditions` is not of the form `{\"posted\"|\"pending\"|\"available\": {\"gte\"|\"lte\"|\"eq\": integer}}` "
           "with at least one bound per named balance (`{}`, `{\"available\": {}}` and nulls name no bound).",
           "Use e.g. `\"conditions\": {\"available\": {\"gte\": 0}}` (amounts in minor units).",
           '`"conditions": {"available": {">=": 0}}`'),
    Reason("event_id_conflict", "batch",
           "The same event_id arrived earlier (in this batch, or already in the ledger) with different content. "
           "The first one stands and is never overwritten.",
           "Never reuse an event id for a different event; to change a posted event send a reversal and a new event.",
           "two lines with `event_id` e1 and different amounts"),
    Reason("balance_condition_failed", "ledger",
           "A leg's balance condition (e.g. available >= 0 after the transaction) would not hold; the whole "
           "transaction is refused.",
           "Post the funding transaction first, or replay the event once the balance allows it.",
           "credit.applied for more than the customer's available credits"),
    Reason("version_conflict", "ledger",
           "A leg's `lock_version` is not the account's current version: someone else moved the account since the "
           "producer read it.",
           "Re-read the account's version and resend the transaction with the current one.",
           "`lock_version: 7` while the account is at version 9"),
    Reason("invalid_transition", "ledger",
           "A lifecycle move or reversal does not apply to the target's state (e.g. settling a payment that is not "
           "pending, reversing a transaction twice), or a move is dated before its target's effective_at.",
           "Check the target's current status and time; only pending transactions move, never to a time before they "
           "took effect, and only posted ones are reversed.",
           "payment.settled for a payment that already failed"),
    Reason("unknown_target", "ledger",
           "The transaction an event refers to (target_event_id, or a reference like payment:<id>) does not exist "
           "(never posted, or quarantined itself).",
           "Post (or replay) the original first, then replay this event.",
           "payment.settled for a payment_id never initiated"),
    Reason("reference_conflict", "ledger",
           "A creating event (invoice.issued, payment.initiated, refund.issued, credit.granted, usage.recorded, or a "
           "configured rule with a `reference`) reuses a business reference (an invoice_id, payment_id, refund_id, "
           "credit_id or usage id) that an event with another event_id created, earlier in this batch or in the "
           "ledger. A reference names one thing for the life of the ledger; the first one stands.",
           "Give the new thing a new id; to change the existing one send a reversal or correction that names it.",
           "a second `invoice.issued` for `inv_42` under a new event_id"),
    Reason("period_closed", "ledger",
           "The event takes effect inside a period finance has closed (with SUBLEDGER_CLOSED_PERIOD_POLICY=quarantine).",
           "Date the event in an open period, or ask finance to reopen the period and replay it.",
           "an invoice dated in last year's closed December"),
)

REASONS: dict[str, Reason] = {reason.code: reason for reason in _TABLE}

# Constants so code never spells a reason code twice.
UNREADABLE_FILE = "unreadable_file"
MALFORMED_JSON = "malformed_json"
MALFORMED_CSV_ROW = "malformed_csv_row"
EVENT_TOO_LARGE = "event_too_large"
CONTROL_CHARACTERS = "control_characters"
MISSING_FIELD = "missing_field"
INVALID_FIELD = "invalid_field"
INVALID_EVENT_ID = "invalid_event_id"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
INVALID_EFFECTIVE_AT = "invalid_effective_at"
TIMESTAMP_WITHOUT_OFFSET = "timestamp_without_offset"
EFFECTIVE_AT_OUT_OF_RANGE = "effective_at_out_of_range"
INVALID_RECORDED_AT = "invalid_recorded_at"
AMOUNT_NOT_INTEGER = "amount_not_integer"
AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
AMOUNT_NOT_POSITIVE = "amount_not_positive"
UNKNOWN_CURRENCY = "unknown_currency"
INVALID_PAYLOAD = "invalid_payload"
INVALID_METADATA = "invalid_metadata"
INVALID_ACCOUNT = "invalid_account"
UNBALANCED = "unbalanced"
INVALID_LEGS = "invalid_legs"
INVALID_CONDITION = "invalid_condition"
EVENT_ID_CONFLICT = "event_id_conflict"

FRONT_END_CODES = frozenset(r.code for r in _TABLE if r.stage != "ledger")
LEDGER_CODES = frozenset(r.code for r in _TABLE if r.stage == "ledger")


def markdown_table() -> str:
    """The reason-code table as Markdown (code, stage, meaning, fix), as in docs/source-events.md."""
    rows = ["| code | decided | meaning | what the producer should do |", "|---|---|---|---|"]
    for r in _TABLE:
        rows.append(f"| `{r.code}` | {r.stage} | {r.meaning} | {r.fix} |")
    return "\n".join(rows)
