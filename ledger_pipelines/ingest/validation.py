"""Validation: raw envelope JSON text -> typed, normalised events, or one reason per rejected event.

Two stages, both declarative (:class:`~ledger_pipelines.ingest.row_checks.CheckSpec` lists run
through Pandera by :func:`~ledger_pipelines.ingest.row_checks.run_checks`):

1. the envelope (every event): event_id, event_type, effective_at, recorded_at, the ids, metadata,
   payload shape, and the envelope fields the event type's posting rule needs (amount, currency);
2. the payload, per event type, from the rule's ``payload`` declaration; ``journal.posted``
   legs are checked leg by leg (:mod:`ledger_pipelines.ingest.journal`).

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

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from ledger_pipelines.accounting.calendar import (
    TIMESTAMP_WITHOUT_OFFSET,
    UTC_TIME,
    parse_date,
    parse_instants,
    parse_timestamp,
    start_of_day,
)
from ledger_pipelines.accounting.money import CODES
from ledger_pipelines.config import Settings
from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.row_checks import CheckSpec, display, run_checks
from ledger_pipelines.ingest.rules import PayloadField, Rule, RuleSet

STRING_FIELDS = ("event_id", "event_type", "effective_at", "recorded_at", "subscription_id", "customer_id", "currency")
MAX_ID_LENGTH = 200

INT64_MAX_DIGITS = "9223372036854775807"
INT64_MIN_DIGITS = "9223372036854775808"
INTEGER_TEXT = r"^-?[0-9]+$"
CONTROL = r"\p{Cc}"
# Control characters inside compact JSON text: raw DEL/C1, or an escape of a C0/DEL/C1 character
# (an escape is a backslash preceded by an even number of backslashes).
CONTROL_IN_JSON = r'(?:^|[^\\])(?:\\\\)*\\(?:[bfnrt]|u00[01][0-9A-Fa-f]|u007[Ff]|u00[89][0-9A-Fa-f])|[\x7f-\x9f]'
# A JSON string token in compact JSON text.
STRING_TOKEN = r'"(?:[^"\\]|\\.)*"'

EVENT_COLUMNS: dict[str, pl.DataType] = {
    "seq": pl.Int64,
    "line_no": pl.Int64,
    "raw": pl.Binary,
    "source_file": pl.Utf8,
    "event_id": pl.Utf8,
    "event_type": pl.Utf8,
    "effective_at": UTC_TIME,
    "recorded_at": UTC_TIME,  # as given, or the ingestion time
    "recorded_at_given": pl.Boolean,
    "subscription_id": pl.Utf8,
    "customer_id": pl.Utf8,
    "amount": pl.Int64,  # the envelope amount when it is an integer (the rule may not read it)
    "currency": pl.Utf8,
    "metadata": pl.Utf8,  # canonical JSON object (sorted keys, string values, unknown fields merged in)
    "payload": pl.Utf8,  # canonical JSON object (sorted keys, integers normalised)
    # JSON texts as sent (canonically escaped), for the hash and the source document
    "event_id_json": pl.Utf8,
    "event_type_json": pl.Utf8,
    "subscription_id_json": pl.Utf8,
    "customer_id_json": pl.Utf8,
    "currency_json": pl.Utf8,
    "amount_json": pl.Utf8,
}

REJECT_COLUMNS: dict[str, pl.DataType] = {
    "seq": pl.Int64, "line_no": pl.Int64, "event_id": pl.Utf8, "event_type": pl.Utf8, "reason_code": pl.Utf8,
    "message": pl.Utf8, "raw": pl.Binary, "source_file": pl.Utf8,
}


@dataclass
class Validated:
    events: pl.DataFrame  # EVENT_COLUMNS + payload columns (payload_column())
    rejects: pl.DataFrame  # REJECT_COLUMNS


def payload_column(field: PayloadField) -> str:
    """Column holding a payload field's normalised value (typed by its kind, so rules never clash)."""
    if field.type == "integer":
        return f"payload.{field.name}#int"
    if field.name == "legs" and field.type == "any":
        return "payload.legs#legs"
    return f"payload.{field.name}"


# -- small expression helpers -----------------------------------------------------------------------

def kind_of(json_text: pl.Expr) -> pl.Expr:
    """The JSON type of a JSON text: string, number, object, array, boolean (null when absent)."""
    first = json_text.str.head(1)
    return (
        pl.when(json_text.is_null()).then(None)
        .when(first == '"').then(pl.lit("string"))
        .when(first == "{").then(pl.lit("object"))
        .when(first == "[").then(pl.lit("array"))
        .when(first.is_in(["t", "f"])).then(pl.lit("boolean"))
        .otherwise(pl.lit("number"))
    )


_A_KIND = {"number": "a number", "object": "an object", "array": "an array", "boolean": "a boolean", "string": "a string"}


def a_kind(kind: pl.Expr) -> pl.Expr:
    return kind.replace_strict(_A_KIND, default="a value", return_dtype=pl.Utf8)


def integer_value(text: pl.Expr) -> pl.Expr:
    """``text`` (digits, optional '-') as Int64; null when not an integer or outside 64 bits."""
    return pl.when(text.str.contains(INTEGER_TEXT) & ~integer_overflows(text)).then(text.cast(pl.Int64, strict=False))


def integer_overflows(text: pl.Expr) -> pl.Expr:
    """Whether an integer text lies outside the signed 64-bit range (decided on the digits)."""
    negative = text.str.starts_with("-")
    digits = text.str.strip_prefix("-").str.strip_chars_start("0")
    limit = pl.when(negative).then(pl.lit(INT64_MIN_DIGITS)).otherwise(pl.lit(INT64_MAX_DIGITS))
    return (digits.str.len_bytes() > 19) | ((digits.str.len_bytes() == 19) & (digits > limit))


def integer_columns(text_col: str) -> list[pl.Expr]:
    """Helper columns for :func:`integer_specs` (computed once, read by several checks)."""
    text = pl.col(text_col)
    is_integer = text.str.contains(INTEGER_TEXT)
    overflow = is_integer & integer_overflows(text)
    return [
        is_integer.alias(f"{text_col}#isint"),
        overflow.alias(f"{text_col}#over"),
        pl.when(is_integer & ~overflow).then(text.cast(pl.Int64, strict=False)).alias(f"{text_col}#int"),
    ]


def number_text(json_text: pl.Series) -> pl.Series:
    """The digits of a JSON number or of a JSON string (a decimal string); null for other kinds."""
    unquoted = jsontext.unquote(json_text)
    first = json_text.str.head(1)
    number = ~first.is_in(['"', "{", "[", "t", "f", "n"])
    return pl.select(pl.when(unquoted.is_not_null()).then(unquoted).when(number).then(json_text)).to_series()


def integer_specs(field: str, json_col: str, text_col: str, applies: pl.Expr, *, positive: bool,
                  minimum: int | None = None, label: pl.Expr | None = None) -> list[CheckSpec]:
    """The checks of one integer field (JSON integer or decimal string), in reason order.

    Needs the :func:`integer_columns` of ``text_col``. ``label`` names the field in messages when
    it varies per row (``payload.legs[2].amount``).
    """
    kind = kind_of(pl.col(json_col))
    name = pl.lit(field) if label is None else label
    text = pl.col(text_col)
    shown = display(pl.col(json_col))
    value = pl.col(f"{text_col}#int")
    specs = [
        CheckSpec(R.AMOUNT_NOT_INTEGER, field, ~applies | text.is_not_null() | pl.col(json_col).is_null(),
                  pl.format("{} must be an integer number (minor units for money), not {} ({}); send e.g. 1250 for 12.50.",
                            name, a_kind(kind), shown)),
        CheckSpec(R.AMOUNT_NOT_INTEGER, field, ~applies | text.is_null() | pl.col(f"{text_col}#isint"),
                  pl.format("{} {} is not an integer: send a whole number, never a fraction or exponent; money is in "
                            "integer minor units (12.50 USD is 1250, 1e3 must be written 1000).", name, shown)),
        CheckSpec(R.AMOUNT_OUT_OF_RANGE, field, ~applies | ~pl.col(f"{text_col}#over"),
                  pl.format("{} {} does not fit in a signed 64-bit integer (-9223372036854775808 .. 9223372036854775807); "
                            "check the unit (minor units) and the value.", name, shown)),
    ]
    if positive:
        specs.append(CheckSpec(R.AMOUNT_NOT_POSITIVE, field, ~applies | value.is_null() | (value > 0),
                               pl.format("{} is {} but must be greater than zero; to take money back send a refund, credit "
                                         "or reversal event instead of a negative amount.", name, shown)))
    elif minimum is not None:
        code = R.AMOUNT_NOT_POSITIVE if minimum >= 1 else R.INVALID_PAYLOAD
        specs.append(CheckSpec(code, field, ~applies | value.is_null() | (value >= minimum),
                               pl.format("{} is {} but must be at least {}.", name, shown, pl.lit(minimum))))
    return specs


def string_specs(field: str, json_col: str, value_col: str, applies: pl.Expr, *, required: bool,
                 missing_code: str, type_code: str, max_length: int, label: pl.Expr | None = None,
                 context: str = "this event needs it") -> list[CheckSpec]:
    """Checks of a string field: present (if required), a JSON string, no control characters, length."""
    kind = kind_of(pl.col(json_col))
    name = pl.lit(field) if label is None else label
    value = pl.col(value_col)
    specs = []
    if required:
        specs.append(CheckSpec(missing_code, field, ~applies | pl.col(json_col).is_not_null(),
                               pl.format("{} is missing (absent, null or empty); {}.", name, pl.lit(context))))
    specs += [
        CheckSpec(type_code, field, ~applies | pl.col(json_col).is_null() | pl.col(json_col).str.starts_with('"'),
                  pl.format("{} must be a JSON string, not {} ({}); send it as text.", name, a_kind(kind),
                            display(pl.col(json_col)))),
        CheckSpec(R.CONTROL_CHARACTERS, field, ~applies | value.is_null() | ~value.str.contains(CONTROL),
                  pl.format("{} {} contains a control character at position {}; remove it (control characters, NUL "
                            "included, are never allowed in strings).", name, display(pl.col(json_col)),
                            value.str.find(CONTROL) + 1)),
        CheckSpec(type_code, field, ~applies | value.is_null() | (value.str.len_chars() <= max_length),
                  pl.format("{} has {} characters; at most {} are allowed ({}).", name, value.str.len_chars(),
                            pl.lit(max_length), display(value, 40))),
    ]
    return specs


def _time_bounds(settings: Settings, now: datetime) -> tuple[datetime, datetime]:
    low = start_of_day(date(1970, 1, 1), settings.tz).astimezone(UTC)
    try:
        high = now.replace(year=now.year + settings.max_future_years)
    except ValueError:  # 29 February
        high = now.replace(year=now.year + settings.max_future_years, day=28)
    return low, high.astimezone(UTC)


# -- stage 1: the envelope ---------------------------------------------------------------------------

_FLAGS = ("_needs_amount", "_needs_currency", "_needs_subscription_id", "_needs_customer_id")


def _rule_flags(rules: RuleSet) -> pl.DataFrame:
    """Per event type: is it known, and which envelope fields does its rule need."""
    rows = []
    for code, (event_type, rule) in enumerate(sorted(rules.rules.items())):
        needed = rule.envelope_required
        rows.append({"event_type": event_type, "_known": True, "_code": code,
                     **{flag: flag.removeprefix("_needs_") in needed for flag in _FLAGS}})
    schema = {"event_type": pl.Utf8, "_known": pl.Boolean, "_code": pl.Int32, **{f: pl.Boolean for f in _FLAGS}}
    return pl.DataFrame(rows, schema=schema)


def _prepare(raw: pl.DataFrame, rules: RuleSet, settings: Settings, now: datetime) -> pl.DataFrame:
    frame = raw.select(
        "seq", "line_no", "source_file", "extras", "extra_keys",
        pl.col("payload").alias("payload_json"), pl.col("metadata").alias("metadata_json"),
        pl.col("amount").alias("amount_json"),
        *[pl.col(f).alias(f"{f}_json") for f in STRING_FIELDS],
    )
    # An empty string is the same as an absent field (CSV cannot tell them apart).
    frame = frame.with_columns(
        [pl.when(pl.col(c) != '""').then(pl.col(c)).alias(c) for c in (*[f"{f}_json" for f in STRING_FIELDS], "amount_json")]
    )
    frame = frame.with_columns(
        *[jsontext.unquote(frame[f"{f}_json"]).rename(f) for f in STRING_FIELDS],
        number_text(frame["amount_json"]).rename("amount_text"),
    )
    frame = frame.join(_rule_flags(rules), on="event_type", how="left", maintain_order="left").with_columns(
        pl.col(c).fill_null(False) for c in ("_known", *_FLAGS)
    )
    low, high = _time_bounds(settings, now)
    return frame.with_columns(
        *integer_columns("amount_text"),
        parse_instants(frame["effective_at"], settings.timezone).alias("_effective_utc"),
        parse_instants(frame["recorded_at"], None).alias("_recorded_utc"),
        _low=pl.lit(low, dtype=UTC_TIME),
        _high=pl.lit(high, dtype=UTC_TIME),
    )


def _envelope_specs(rules: RuleSet, settings: Settings) -> list[CheckSpec]:
    everyone = pl.lit(True)
    effective = pl.col("effective_at")
    effective_json = pl.col("effective_at_json")
    known_types = ", ".join(rules.event_types[:12]) + (", ..." if len(rules.event_types) > 12 else "")
    specs: list[CheckSpec] = []
    specs += string_specs("event_id", "event_id_json", "event_id", everyone, required=True, missing_code=R.MISSING_FIELD,
                          type_code=R.INVALID_EVENT_ID, max_length=MAX_ID_LENGTH,
                          context="every event needs a unique event_id of 1-200 characters")
    specs += [
        CheckSpec(R.MISSING_FIELD, "event_type", pl.col("event_type_json").is_not_null(),
                  pl.lit("event_type is missing (absent, null or empty); say what happened, e.g. \"invoice.issued\".")),
        CheckSpec(R.UNKNOWN_EVENT_TYPE, "event_type", pl.col("_known"),
                  pl.format("event_type {} is not a known event type; use one of: {} (or add a posting rule for it, "
                            "docs/posting-rules.md).", display(pl.col("event_type_json")), pl.lit(known_types))),
        CheckSpec(R.MISSING_FIELD, "effective_at", effective_json.is_not_null(),
                  pl.lit("effective_at is missing (absent, null or empty); send when the event counts financially, e.g. "
                         "\"2024-03-31T10:00:00Z\" or the date \"2024-03-31\".")),
        CheckSpec(R.INVALID_EFFECTIVE_AT, "effective_at", effective_json.str.starts_with('"'),
                  pl.format("effective_at must be a JSON string (RFC 3339 timestamp or YYYY-MM-DD), not {} ({}).",
                            a_kind(kind_of(effective_json)), display(effective_json))),
        CheckSpec(R.TIMESTAMP_WITHOUT_OFFSET, "effective_at",
                  pl.col("_effective_utc").is_not_null() | effective.is_null() | ~effective.str.contains(TIMESTAMP_WITHOUT_OFFSET),
                  pl.format("effective_at {} has no UTC offset, so it could mean different instants; add one, e.g. {}Z or "
                            "{}+02:00, or send a bare date.", display(effective), display(effective), display(effective))),
        CheckSpec(R.INVALID_EFFECTIVE_AT, "effective_at", effective.is_null() | pl.col("_effective_utc").is_not_null(),
                  pl.format("effective_at {} is neither an RFC 3339 timestamp with offset nor a real date YYYY-MM-DD; write "
                            "e.g. \"2024-03-31T10:00:00+02:00\" or \"2024-03-31\".", display(effective))),
        CheckSpec(R.EFFECTIVE_AT_OUT_OF_RANGE, "effective_at",
                  pl.col("_effective_utc").is_null() | pl.col("_effective_utc").is_between(pl.col("_low"), pl.col("_high")),
                  pl.format("effective_at {} is outside the accepted range 1970-01-01 .. {} ({} years after ingestion); "
                            "check the date (century, seconds vs milliseconds).", display(effective),
                            pl.col("_high").dt.strftime("%Y-%m-%d"), pl.lit(settings.max_future_years))),
        CheckSpec(R.INVALID_RECORDED_AT, "recorded_at",
                  pl.col("recorded_at_json").is_null()
                  | pl.col("_recorded_utc").is_between(pl.col("_low"), pl.col("_high")).fill_null(False),
                  pl.format("recorded_at {} must be an RFC 3339 timestamp with offset between 1970 and {} (e.g. "
                            "\"2024-03-31T10:00:00Z\"); or leave it out to use the ingestion time.",
                            display(pl.col("recorded_at_json")), pl.col("_high").dt.strftime("%Y-%m-%d"))),
    ]
    for f in ("subscription_id", "customer_id"):
        needs = pl.col(f"_needs_{f}")
        specs += string_specs(f, f"{f}_json", f, needs, required=True, missing_code=R.MISSING_FIELD,
                              type_code=R.INVALID_FIELD, max_length=MAX_ID_LENGTH,
                              context="subscription events need subscription_id and customer_id")
        specs += string_specs(f, f"{f}_json", f, ~needs, required=False, missing_code=R.MISSING_FIELD,
                              type_code=R.INVALID_FIELD, max_length=MAX_ID_LENGTH)
    specs.append(CheckSpec(R.MISSING_FIELD, "amount", ~pl.col("_needs_amount") | pl.col("amount_json").is_not_null(),
                           pl.format("amount is missing; {} events need the amount in minor units (e.g. 1250 for 12.50).",
                                     pl.col("event_type"))))
    specs += integer_specs("amount", "amount_json", "amount_text", pl.col("_needs_amount"), positive=True)
    currency = pl.col("currency")
    needs_currency = pl.col("_needs_currency")
    specs += [
        CheckSpec(R.MISSING_FIELD, "currency", ~needs_currency | pl.col("currency_json").is_not_null(),
                  pl.format("currency is missing; {} events need an ISO 4217 code such as \"USD\".", pl.col("event_type"))),
        CheckSpec(R.UNKNOWN_CURRENCY, "currency",
                  ~needs_currency | pl.col("currency_json").is_null() | currency.is_in(sorted(CODES)).fill_null(False),
                  pl.format("currency {} is not an active ISO 4217 code{}; use the upper-case three-letter code, e.g. "
                            "\"USD\", \"EUR\", \"JPY\".", display(pl.col("currency_json")),
                            pl.when(currency.str.to_uppercase().is_in(sorted(CODES)) & (currency != currency.str.to_uppercase()))
                            .then(pl.format(" (codes are upper case: {})", currency.str.to_uppercase())).otherwise(pl.lit("")))),
    ]
    specs += _metadata_specs()
    payload_kind = kind_of(pl.col("payload_json"))
    specs.append(CheckSpec(R.INVALID_PAYLOAD, "payload", pl.col("payload_json").is_null() | pl.col("payload_json").str.starts_with("{"),
                           pl.format("payload must be a JSON object, not {} ({}); see the event type's fields in "
                                     "docs/source-events.md.", a_kind(payload_kind), display(pl.col("payload_json")))))
    return specs


# -- metadata (analysed once per distinct value) --------------------------------------------------------

def _analyse_metadata(texts: pl.DataFrame) -> pl.DataFrame:
    """Per distinct ``metadata_json``: shape, keys, control characters and the canonical text.

    Metadata is a flat object of strings, so its compact JSON is nothing but string tokens,
    ``{``, ``}``, ``:`` and ``,``: counting bytes proves the shape without decoding anything.
    """
    text = pl.col("metadata_json")
    tokens = text.str.extract_all(STRING_TOKEN)
    n = tokens.list.len()
    token_bytes = tokens.list.eval(pl.element().str.len_bytes()).list.sum()
    expected = pl.when(n == 0).then(2).otherwise(2 + token_bytes + n // 2 + (n // 2 - 1))
    out = texts.with_columns(
        _meta_tokens=tokens,
        _meta_object=text.is_null() | text.str.starts_with("{"),
        _meta_flat=text.is_null() | (text.str.starts_with("{") & (n % 2 == 0) & (text.str.len_bytes() == expected)),
        _meta_control=text.is_not_null() & text.str.contains(CONTROL_IN_JSON),
    ).with_columns(
        _meta_keys=pl.col("_meta_tokens").list.gather_every(2),
        _meta_values=pl.col("_meta_tokens").list.gather_every(2, offset=1),
    )
    out = out.with_columns(_meta_unique=pl.col("_meta_keys").list.n_unique() == pl.col("_meta_keys").list.len())
    pairs = (
        out.filter(pl.col("_meta_flat") & text.is_not_null())
        .select("metadata_json", pl.col("_meta_keys").alias("k"), pl.col("_meta_values").alias("v"))
        .explode("k", "v").drop_nulls("k").sort("metadata_json", "k")
        .group_by("metadata_json", maintain_order=True)
        .agg(pl.concat_str([pl.col("k"), pl.lit(":"), pl.col("v")]).str.join(",").alias("_body"))
    )
    return out.join(pairs, on="metadata_json", how="left", nulls_equal=True).with_columns(
        _meta_canonical=pl.when(text.is_null()).then(pl.lit("{}"))
        .otherwise(pl.lit("{") + pl.col("_body").fill_null("") + pl.lit("}"))
    ).drop("_meta_tokens", "_body")


def _metadata_specs() -> list[CheckSpec]:
    text = pl.col("metadata_json")
    keys = pl.col("_meta_keys")
    return [
        CheckSpec(R.INVALID_METADATA, "metadata", pl.col("_meta_object"),
                  pl.format("metadata must be a JSON object of strings, not {} ({}); send e.g. {}.", a_kind(kind_of(text)),
                            display(text), pl.lit('{"region": "eu"}'))),
        CheckSpec(R.INVALID_METADATA, "metadata", pl.col("_meta_flat"),
                  pl.format("metadata values must all be strings ({}); quote numbers and flatten nested objects, e.g. "
                            "{}.", display(text), pl.lit('{"retries": "3"}'))),
        CheckSpec(R.INVALID_METADATA, "metadata", pl.col("_meta_unique"),
                  pl.format("metadata has the key {} more than once; send each key once.",
                            keys.list.eval(pl.element().filter(pl.element().is_duplicated())).list.first())),
        CheckSpec(R.CONTROL_CHARACTERS, "metadata", ~pl.col("_meta_control"),
                  pl.format("metadata {} contains a control character; remove it.", display(text))),
        CheckSpec(R.CONTROL_CHARACTERS, "extras", pl.col("extras").is_null() | ~pl.col("extras").str.contains(CONTROL_IN_JSON),
                  pl.format("an unknown top-level field (kept in metadata) contains a control character: {}; remove it.",
                            display(pl.col("extras")))),
        CheckSpec(R.INVALID_METADATA, "metadata", ~pl.col("_extras_collide"),
                  pl.format("the top-level field(s) {} are not part of the contract and are kept in metadata, but metadata "
                            "already has that key; move the field into metadata or rename it.",
                            keys.list.set_intersection(pl.col("extra_keys")).list.join(", "))),
    ]


def _with_metadata(frame: pl.DataFrame) -> pl.DataFrame:
    distinct = _analyse_metadata(frame.select("metadata_json").unique())
    frame = frame.join(distinct, on="metadata_json", how="left", nulls_equal=True, maintain_order="left")
    collide = pl.Series("_extras_collide", [False] * frame.height, dtype=pl.Boolean)
    has_extras = frame["extras"].is_not_null()
    if has_extras.any():
        rows = has_extras.arg_true()
        subset = frame[rows]
        hits = subset.select(pl.col("_meta_keys").list.set_intersection(pl.col("extra_keys")).list.len() > 0).to_series()
        collide = collide.scatter(rows, hits)
    return frame.with_columns(collide)


def _merge_extras(frame: pl.DataFrame) -> pl.Series:
    """Canonical metadata of valid rows, with unknown top-level fields merged in (rare rows only)."""
    metadata = frame["_meta_canonical"]
    has_extras = frame["extras"].is_not_null()
    if not has_extras.any():
        return metadata.rename("metadata")
    rows = has_extras.arg_true()
    subset = frame[rows].with_row_index("_r")
    pairs = subset.select("_r", pl.col("_meta_keys").alias("k"), pl.col("_meta_values").alias("v")).explode("k", "v").drop_nulls("k")
    extra = jsontext.object_entries(subset["extras"]).select(
        pl.col("row").cast(pl.UInt32).alias("_r"), pl.col("key_json").alias("k"),
        pl.when(pl.col("value").str.starts_with('"')).then(pl.col("value")).otherwise(jsontext.json_string(pl.col("value"))).alias("v"),
    )
    merged = (
        pl.concat([pairs, extra.cast(pairs.schema)]).sort("_r", "k")
        .group_by("_r", maintain_order=True)
        .agg(pl.concat_str([pl.col("k"), pl.lit(":"), pl.col("v")]).str.join(",").alias("body"))
    )
    merged = subset.select("_r").join(merged, on="_r", how="left").select(
        (pl.lit("{") + pl.col("body").fill_null("") + pl.lit("}")).alias("m"))
    return metadata.scatter(rows, merged["m"]).rename("metadata")


# -- stage 2: payloads, per event type ----------------------------------------------------------------

def _payload_specs(rule: Rule) -> list[CheckSpec]:
    specs: list[CheckSpec] = []
    if any(f.required for f in rule.payload.values()):
        specs.append(CheckSpec(R.MISSING_FIELD, "payload", pl.col("payload_json").is_not_null(),
                               pl.format("payload is missing; {} events need a payload object with {}.", pl.lit(rule.event_type),
                                         pl.lit(", ".join(f.name for f in rule.payload.values() if f.required)))))
    specs.append(CheckSpec(R.INVALID_PAYLOAD, "payload", pl.col("_p_unique"),
                           pl.format("payload has the key {} more than once; send each key once.",
                                     pl.col("_p_keys").list.eval(pl.element().filter(pl.element().is_duplicated())).list.first())))
    everyone = pl.lit(True)
    for field in rule.payload.values():
        if rule.action == "journal" and field.name == "legs":
            continue
        name = f"payload.{field.name}"
        json_col, value_col = f"_pj.{field.name}", f"_pv.{field.name}"
        value = pl.col(value_col)
        if field.required:
            specs.append(CheckSpec(R.MISSING_FIELD, name, pl.col(json_col).is_not_null(),
                                   pl.format("{} is missing (absent, null or empty); {} events need it.", pl.lit(name),
                                             pl.lit(rule.event_type))))
        if field.type == "integer":
            specs += integer_specs(name, json_col, value_col, everyone, positive=False, minimum=field.min)
        elif field.type in ("string", "text", "enum", "date", "timestamp"):
            specs += string_specs(name, json_col, value_col, everyone, required=False, missing_code=R.MISSING_FIELD,
                                  type_code=R.INVALID_PAYLOAD, max_length=field.max_length)
            if field.type == "enum":
                specs.append(CheckSpec(R.INVALID_PAYLOAD, name, value.is_null() | value.is_in(list(field.values)),
                                       pl.format("{} is {} but must be one of {}.", pl.lit(name), display(pl.col(json_col)),
                                                 pl.lit(", ".join(field.values)))))
            elif field.type == "date":
                specs.append(CheckSpec(R.INVALID_PAYLOAD, name,
                                       value.is_null() | parse_date(value).is_not_null(),
                                       pl.format("{} is {} but must be a real date YYYY-MM-DD, e.g. \"2024-03-01\".",
                                                 pl.lit(name), display(pl.col(json_col)))))
            elif field.type == "timestamp":
                specs.append(CheckSpec(R.INVALID_PAYLOAD, name, value.is_null() | parse_timestamp(value).is_not_null(),
                                       pl.format("{} is {} but must be an RFC 3339 timestamp with offset.", pl.lit(name),
                                                 display(pl.col(json_col)))))
    specs.append(CheckSpec(R.CONTROL_CHARACTERS, "payload",
                           pl.col("payload_json").is_null() | ~pl.col("payload_json").str.contains(CONTROL_IN_JSON),
                           pl.format("payload {} contains a control character in a string; remove it.",
                                     display(pl.col("payload_json")))))
    return specs


def _payload_frame(group: pl.DataFrame, rule: Rule) -> pl.DataFrame:
    """Split the payload objects of one event type into per-field JSON text and values.

    The payload text is already compact (DuckDB re-serialised it), so it holds keys beyond the
    declared ones, or a repeated key, exactly when it is longer than the declared fields' compact
    rendering; only those rows are asked for their full key list (``_p_keys``).
    """
    names = list(rule.payload)
    texts = group["payload_json"]
    objects = pl.select(pl.when(texts.str.starts_with("{")).then(texts)).to_series()
    fields = jsontext.object_fields(objects, names, keys=False)
    present = [fields[n].is_not_null().cast(pl.Int64) for n in names]
    compact_length = pl.select(
        2 + pl.sum_horizontal([fields[n].str.len_bytes().fill_null(0) for n in names] or [pl.lit(0)])
        + pl.sum_horizontal([p * (len(n.encode()) + 3) for p, n in zip(present, names, strict=False)] or [pl.lit(0)])
        + (pl.sum_horizontal(present or [pl.lit(0)]) - 1).clip(lower_bound=0)
    ).to_series()
    longer = (objects.is_not_null() & (objects.str.len_bytes() != compact_length)).fill_null(False)
    keys = pl.repeat(None, group.height, dtype=pl.List(pl.Utf8), eager=True).rename("_p_keys")
    if longer.any():
        rows = longer.arg_true()
        found = pl.DataFrame({"_row": rows.cast(pl.Int64), "_p_keys": jsontext.object_keys(objects.gather(rows))})
        keys = pl.DataFrame({"_row": pl.int_range(group.height, eager=True, dtype=pl.Int64)}).join(
            found, on="_row", how="left", maintain_order="left")["_p_keys"]
    columns, helpers = [], []
    for name in names:
        spec = rule.payload[name]
        json_text = pl.select(pl.when(fields[name] != '""').then(fields[name])).to_series()  # "" counts as absent
        columns.append(json_text.alias(f"_pj.{name}"))
        if spec.type == "integer":
            columns.append(number_text(json_text).alias(f"_pv.{name}"))
            helpers += integer_columns(f"_pv.{name}")
        elif spec.type == "any":
            columns.append(json_text.alias(f"_pv.{name}"))
        else:
            columns.append(jsontext.unquote(json_text).alias(f"_pv.{name}"))
    out = group.with_columns(*columns, keys.alias("_p_keys"))
    return out.with_columns(
        *helpers,
        _p_unique=pl.col("_p_keys").is_null() | (pl.col("_p_keys").list.n_unique() == pl.col("_p_keys").list.len()),
    )


def canonical_payload(frame: pl.DataFrame, rule: Rule, legs_json: pl.Series | None = None) -> pl.Series:
    """The payload as canonical JSON: keys sorted, declared integers as integers, strings as sent
    (canonically escaped), journal legs canonicalised; undeclared keys kept (slower path)."""
    pieces = []
    for name in sorted(rule.payload):
        spec = rule.payload[name]
        if rule.action == "journal" and name == "legs" and legs_json is not None:
            value = pl.lit(legs_json)
        elif spec.type == "integer":
            value = pl.col(f"_pv.{name}#int").cast(pl.Utf8)
        else:
            value = pl.col(f"_pj.{name}")
        pieces.append(pl.when(value.is_not_null()).then(pl.lit(json.dumps(name) + ":") + value))
    body = pl.concat_str(pieces, separator=",", ignore_nulls=True).fill_null("") if pieces else pl.lit("")
    out = frame.select((pl.lit("{") + body + pl.lit("}")).alias("payload"))["payload"]
    extra = frame.select(
        (pl.col("_p_keys").list.set_difference(pl.lit(sorted(rule.payload))).list.len() > 0).fill_null(False)
    ).to_series()
    if not extra.any():
        return out
    rows = extra.arg_true()
    merged = [
        _merge_extra_keys(known_text, payload_text, set(rule.payload))
        for known_text, payload_text in zip(out.gather(rows).to_list(), frame["payload_json"].gather(rows).to_list(), strict=False)
    ]
    return out.scatter(rows, pl.Series(merged, dtype=pl.Utf8))


def _merge_extra_keys(known_text: str, payload_text: str, declared: set[str]) -> str:
    """Slow path (rows with undeclared payload keys): add those keys, canonicalised, in key order."""
    known = json.loads(known_text, parse_float=jsontext._Raw, parse_int=jsontext._Raw)
    full = json.loads(payload_text, parse_float=jsontext._Raw, parse_int=jsontext._Raw)
    entries = {k: _canonical_json(v) for k, v in known.items()}
    for key, value in full.items():
        if key not in declared:
            entries[key] = _canonical_json(value)
    return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + v for k, v in sorted(entries.items())) + "}"


def _canonical_json(value: object) -> str:
    if isinstance(value, jsontext._Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _canonical_json(v) for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _typed_columns(rules: RuleSet) -> dict[str, pl.DataType]:
    """The typed payload columns of the events frame: one per (field, type) any rule declares."""
    from ledger_pipelines.ingest.journal import LEG

    out: dict[str, pl.DataType] = {}
    for rule in rules.rules.values():
        for field in rule.payload.values():
            column = payload_column(field)
            out[column] = pl.List(LEG) if column == "payload.legs#legs" else pl.Int64 if field.type == "integer" else pl.Utf8
    return dict(sorted(out.items()))


# -- the whole thing --------------------------------------------------------------------------------

_CARRIED = ("seq", "line_no", "event_id", "event_type", "source_file", "payload_json")


def validate_events(raw: pl.DataFrame, rules: RuleSet, settings: Settings, now: datetime) -> Validated:
    """Validate parsed rows (readers' RAW_SCHEMA without line-level rejects) into typed events.

    The envelope is checked on the whole frame; payloads per event type on narrow slices whose
    results are scattered back, so the wide frame is never sorted or copied per type.
    """
    from ledger_pipelines.ingest.journal import validate_journal

    raw_bytes = raw.select("seq", "raw")
    frame = _with_metadata(_prepare(raw, rules, settings, now))
    failures = run_checks(frame, _envelope_specs(rules, settings))
    rejects = [_rejects(frame, failures)]
    accepted = pl.Series(np.ones(frame.height, dtype=bool)).scatter(failures["row"], False) if failures.height else \
        pl.Series(np.ones(frame.height, dtype=bool))
    typed_schema = _typed_columns(rules)
    payload = pl.repeat(None, frame.height, dtype=pl.Utf8, eager=True).rename("payload")
    typed = {c: pl.repeat(None, frame.height, dtype=t, eager=True).rename(c) for c, t in typed_schema.items() if not c.endswith("#legs")}
    legs_frames = []
    codes = frame["_code"]
    for code, (_event_type, rule) in enumerate(sorted(rules.rules.items())):
        rows = ((codes == code) & accepted).arg_true()
        if rows.is_empty():
            continue
        group = _payload_frame(frame.select(_CARRIED)[rows].with_columns(_at=rows), rule)
        failed = run_checks(group, _payload_specs(rule))
        rejects.append(_rejects(group, failed))
        if failed.height:
            group = group.filter(pl.Series(np.ones(group.height, dtype=bool)).scatter(failed["row"], False))
        legs_json = None
        if rule.action == "journal":
            journal = validate_journal(group, rules.account_types)
            rejects.append(journal.rejects)
            group = group.join(journal.rejects.select("seq"), on="seq", how="anti", maintain_order="left")
            unbounded = _empty_condition_bounds(group)
            if unbounded.height:
                rejects.append(unbounded)
                group = group.join(unbounded.select("seq"), on="seq", how="anti", maintain_order="left")
            legs = group.select("seq").join(journal.legs, on="seq", how="left", maintain_order="left")
            legs_json = legs["legs_json"]
            legs_frames.append(legs.select("seq", pl.col("legs").alias("payload.legs#legs")))
        refused = rows.filter(~rows.is_in(group["_at"].implode()))
        if refused.len():
            accepted = accepted.scatter(refused, False)
        at = group["_at"]
        payload = payload.scatter(at, canonical_payload(group, rule, legs_json))
        for field in rule.payload.values():
            column = payload_column(field)
            if column in typed:
                source = f"_pv.{field.name}#int" if field.type == "integer" else f"_pv.{field.name}"
                typed[column] = typed[column].scatter(at, group[source].cast(typed_schema[column]))
    frame = frame.with_columns(payload, *typed.values()).filter(accepted)
    frame = frame.with_columns(
        metadata=_merge_extras(frame),
        effective_at=pl.col("_effective_utc"),
        recorded_at_given=pl.col("_recorded_utc").is_not_null(),
        recorded_at=pl.coalesce(pl.col("_recorded_utc"), pl.lit(now.astimezone(UTC), dtype=UTC_TIME)),
        amount=pl.col("amount_text#int"),
        raw=raw_bytes["raw"].gather(raw_bytes["seq"].search_sorted(frame["seq"])),
    )
    if "payload.legs#legs" in typed_schema:
        legs = pl.concat(legs_frames) if legs_frames else pl.DataFrame(schema={"seq": pl.Int64, "payload.legs#legs": typed_schema["payload.legs#legs"]})
        frame = frame.join(legs, on="seq", how="left", maintain_order="left")
    events = frame.select(*EVENT_COLUMNS, *typed_schema).with_columns(pl.col(c).cast(t) for c, t in EVENT_COLUMNS.items())
    all_rejects = pl.concat([r.select(list(REJECT_COLUMNS)).cast(REJECT_COLUMNS) for r in rejects])
    if all_rejects.height:
        all_rejects = all_rejects.drop("raw").join(raw_bytes, on="seq", how="left").select(list(REJECT_COLUMNS)).sort("seq")
    return Validated(events=events, rejects=_exact_number_tokens(all_rejects))


def _empty_condition_bounds(group: pl.DataFrame) -> pl.DataFrame:
    """Journal legs whose ``conditions`` map a balance to an empty object (``{"available": {}}``).

    Such a condition names no bound, exactly like ``{}``, and is refused the same way
    (``invalid_condition``) instead of being read as "no condition". Only journals whose legs
    contain an empty object at all (``{}`` in the compact text) are looked at closely.
    """
    legs_text = group["_pj.legs"]
    candidates = legs_text.str.contains("{}", literal=True).fill_null(False)
    if not candidates.any():
        return pl.DataFrame(schema=REJECT_COLUMNS)
    events = group.filter(candidates)
    legs = (
        events.select("seq", jsontext.array_elements(events["_pj.legs"]).alias("element"))
        .with_columns(leg_no=pl.int_ranges(pl.col("element").list.len()))
        .explode("element", "leg_no")
        .filter(pl.col("element").str.starts_with("{").fill_null(False))
    )
    legs = legs.with_columns(conditions=jsontext.object_fields(legs["element"], ["conditions"], keys=False)["conditions"])
    legs = legs.filter(pl.col("conditions").str.starts_with("{").fill_null(False))
    if legs.is_empty():
        return pl.DataFrame(schema=REJECT_COLUMNS)
    entries = jsontext.object_entries(legs["conditions"])
    empty = (
        legs.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
        .join(entries.filter(pl.col("value") == "{}"), on="row")
        .sort("seq", "leg_no").unique("seq", keep="first", maintain_order=True)
    )
    if empty.is_empty():
        return pl.DataFrame(schema=REJECT_COLUMNS)
    found = empty.select(
        "seq", pl.lit(R.INVALID_CONDITION).alias("reason_code"),
        pl.format("payload.legs[{}].conditions {} is not valid: {} names no bound (give an operator and an amount); "
                  "write it like {}.", pl.col("leg_no"), display(pl.col("conditions")), pl.col("key_json"),
                  pl.lit('{"available": {"gte": 0}}')).alias("message"),
    )
    return events.join(found, on="seq").select(
        "seq", "line_no", "event_id", "event_type", "reason_code", "message", pl.lit(None, pl.Binary).alias("raw"), "source_file",
    ).cast(REJECT_COLUMNS)


def _rejects(frame: pl.DataFrame, failures: pl.DataFrame) -> pl.DataFrame:
    """Failures (row, reason_code, message) -> REJECT_COLUMNS rows of ``frame`` (raw added later)."""
    if failures.is_empty():
        return pl.DataFrame(schema=REJECT_COLUMNS)
    picked = frame[failures["row"]]
    return pl.concat([picked.select("seq", "line_no", "event_id", "event_type", pl.lit(None, pl.Binary).alias("raw"), "source_file"),
                      failures.select("reason_code", "message")], how="horizontal").select(list(REJECT_COLUMNS)).cast(REJECT_COLUMNS)


_PATH_STEP = r"([A-Za-z0-9_]+)|\[(\d+)\]"


def _exact_number_tokens(rejects: pl.DataFrame) -> pl.DataFrame:
    """Amount messages quote the number exactly as sent (``1e3``, not the parser's ``1000.0``)."""
    import re

    mask = rejects["reason_code"].is_in([R.AMOUNT_NOT_INTEGER, R.AMOUNT_OUT_OF_RANGE])
    if not mask.any():
        return rejects
    rows = mask.arg_true()
    messages = []
    for message, raw in zip(rejects["message"].gather(rows).to_list(), rejects["raw"].gather(rows).to_list(), strict=False):
        field, _, rest = message.partition(" ")
        shown, _, tail = rest.partition(" ")
        path: list[str | int] = [m.group(1) or int(m.group(2)) for m in re.finditer(_PATH_STEP, field)]
        token = jsontext.number_token(raw.decode("utf-8", "replace"), path) if path else None
        messages.append(f"{field} {token} {tail}" if token is not None and shown and not shown.startswith("must") else message)
    return rejects.with_columns(rejects["message"].scatter(rows, pl.Series(messages, dtype=pl.Utf8)))
