"""The whole of validation: parsed rows -> typed events and one reason per refused event."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import polars as pl

from ledger_pipelines.accounting.calendar import (
    UTC_TIME,
)
from ledger_pipelines.config import Settings
from ledger_pipelines.ingest import jsontext
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.row_checks import run_checks
from ledger_pipelines.ingest.rules import RuleSet
from ledger_pipelines.ingest.validation.columns import EVENT_COLUMNS, REJECT_COLUMNS, Validated, rejects_of
from ledger_pipelines.ingest.validation.envelope import envelope_specs, merge_extras, prepare_envelope, with_metadata
from ledger_pipelines.ingest.validation.payload import (
    canonical_payload,
    empty_condition_bounds,
    payload_column,
    payload_frame,
    payload_specs,
    typed_columns,
)

# -- the whole thing --------------------------------------------------------------------------------

_CARRIED = ("seq", "line_no", "event_id", "event_type", "source_file", "payload_json")


def validate_events(raw: pl.DataFrame, rules: RuleSet, settings: Settings, now: datetime) -> Validated:
    """Validate parsed rows (readers' RAW_SCHEMA without line-level rejects) into typed events.

    The envelope is checked on the whole frame; payloads per event type on narrow slices whose
    results are scattered back, so the wide frame is never sorted or copied per type.
    """
    from ledger_pipelines.ingest.journal import validate_journal

    raw_bytes = raw.select("seq", "raw")
    frame = with_metadata(prepare_envelope(raw, rules, settings, now))
    failures = run_checks(frame, envelope_specs(rules, settings))
    rejects = [rejects_of(frame, failures)]
    accepted = pl.Series(np.ones(frame.height, dtype=bool)).scatter(failures["row"], False) if failures.height else \
        pl.Series(np.ones(frame.height, dtype=bool))
    typed_schema = typed_columns(rules)
    payload = pl.repeat(None, frame.height, dtype=pl.Utf8, eager=True).rename("payload")
    typed = {c: pl.repeat(None, frame.height, dtype=t, eager=True).rename(c) for c, t in typed_schema.items() if not c.endswith("#legs")}
    legs_frames = []
    codes = frame["_code"]
    for code, (_event_type, rule) in enumerate(sorted(rules.rules.items())):
        rows = ((codes == code) & accepted).arg_true()
        if rows.is_empty():
            continue
        group = payload_frame(frame.select(_CARRIED)[rows].with_columns(_at=rows), rule)
        failed = run_checks(group, payload_specs(rule))
        rejects.append(rejects_of(group, failed))
        if failed.height:
            group = group.filter(pl.Series(np.ones(group.height, dtype=bool)).scatter(failed["row"], False))
        legs_json = None
        if rule.action == "journal":
            journal = validate_journal(group, rules.account_types)
            rejects.append(journal.rejects)
            group = group.join(journal.rejects.select("seq"), on="seq", how="anti", maintain_order="left")
            unbounded = empty_condition_bounds(group)
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
        metadata=merge_extras(frame),
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


_PATH_STEP = r"([A-Za-z0-9_]+)|\[(\d+)\]"


def _exact_number_tokens(rejects: pl.DataFrame) -> pl.DataFrame:
    """Amount messages quote the number exactly as sent (``1e3``, not the parser's ``1000.0``)."""

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
