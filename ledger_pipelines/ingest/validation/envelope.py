"""Stage 1, on every event: the envelope (event_id, event_type, effective_at, recorded_at, the ids,
the amount and currency the rule needs, the payload's shape) and the metadata object, analysed once
per distinct value and merged with unknown top-level fields."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from ledger_pipelines.accounting.calendar import (
    TIMESTAMP_WITHOUT_OFFSET,
    UTC_TIME,
    parse_instants,
    start_of_day,
)
from ledger_pipelines.accounting.money import CODES
from ledger_pipelines.config import Settings
from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.row_checks import CheckSpec, display
from ledger_pipelines.ingest.rules import RuleSet
from ledger_pipelines.ingest.validation.fields import (
    CONTROL_IN_JSON,
    STRING_TOKEN,
    a_kind,
    integer_columns,
    integer_specs,
    kind_of,
    number_text,
    string_specs,
)

STRING_FIELDS = ("event_id", "event_type", "effective_at", "recorded_at", "subscription_id", "customer_id", "currency")
MAX_ID_LENGTH = 200


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


def prepare_envelope(raw: pl.DataFrame, rules: RuleSet, settings: Settings, now: datetime) -> pl.DataFrame:
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


def envelope_specs(rules: RuleSet, settings: Settings) -> list[CheckSpec]:
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


def with_metadata(frame: pl.DataFrame) -> pl.DataFrame:
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


def merge_extras(frame: pl.DataFrame) -> pl.Series:
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
