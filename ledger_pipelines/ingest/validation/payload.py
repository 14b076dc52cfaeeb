"""Stage 2, per event type: the payload fields the rule declares (split out of the object once,
checked, canonicalised with sorted keys), the typed payload columns, and the journal legs' empty
conditions."""

from __future__ import annotations

import json

import polars as pl

from ledger_pipelines.accounting.calendar import (
    parse_date,
    parse_timestamp,
)
from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.row_checks import CheckSpec, display
from ledger_pipelines.ingest.rules import PayloadField, Rule, RuleSet
from ledger_pipelines.ingest.validation.columns import REJECT_COLUMNS
from ledger_pipelines.ingest.validation.fields import CONTROL_IN_JSON, integer_columns, integer_specs, number_text, string_specs


def payload_column(field: PayloadField) -> str:
    """Column holding a payload field's normalised value (typed by its kind, so rules never clash)."""
    if field.type == "integer":
        return f"payload.{field.name}#int"
    if field.name == "legs" and field.type == "any":
        return "payload.legs#legs"
    return f"payload.{field.name}"


# -- stage 2: payloads, per event type ----------------------------------------------------------------

def payload_specs(rule: Rule) -> list[CheckSpec]:
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


def payload_frame(group: pl.DataFrame, rule: Rule) -> pl.DataFrame:
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


def typed_columns(rules: RuleSet) -> dict[str, pl.DataType]:
    """The typed payload columns of the events frame: one per (field, type) any rule declares."""
    from ledger_pipelines.ingest.journal import LEG

    out: dict[str, pl.DataType] = {}
    for rule in rules.rules.values():
        for field in rule.payload.values():
            column = payload_column(field)
            out[column] = pl.List(LEG) if column == "payload.legs#legs" else pl.Int64 if field.type == "integer" else pl.Utf8
    return dict(sorted(out.items()))


def empty_condition_bounds(group: pl.DataFrame) -> pl.DataFrame:
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
