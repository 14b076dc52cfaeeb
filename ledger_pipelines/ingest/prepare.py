"""The ingestion front end in one call: files or frames -> a :class:`PreparedBatch` (no database).

:func:`prepare_batch` reads every source (:mod:`readers`), validates the events (:mod:`validation`),
hashes them (:mod:`hashing`), settles repeated event ids inside the batch, and maps the rest with the
posting rules (:mod:`mapping`). Every input event ends up in exactly one of:

* the plan (its ``seq`` appears in ``plan.postings``/``transitions``/``reversals``),
* ``rejects`` (with a reason code and message; a whole unreadable file is one reject with a null
  ``seq``), or
* ``in_batch_duplicates`` (the same event id and content earlier in the batch).

``counts["events"] == counts["planned"] + counts["rejected"] + counts["duplicates"]`` is asserted
for every batch. The database side (:mod:`ledger_pipelines.ingest.writer`) then posts the plan
and adds its own outcomes.

A source whose reading, validation or mapping fails with an unexpected error (a file shape no
check foresaw, a library error) never stops the batch or the run: like an unreadable file, it
becomes one whole-file reject (``unreadable_file``, the message names the error and says what to
do) and the other sources go on. Errors that are not about the data (database errors, memory,
interrupts) are raised as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import psycopg

from ledger_pipelines.accounting.calendar import local_day_expr
from ledger_pipelines.config import Settings, load_settings
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.hashing import content_hashes
from ledger_pipelines.ingest.mapping import map_events
from ledger_pipelines.ingest.readers import RawFile, ReadLimits, read_frame, read_jsonl_bytes, read_path, unreadable_file
from ledger_pipelines.ingest.rules import RuleSet, load_rules
from ledger_pipelines.ingest.validation import REJECT_COLUMNS, validate_events
from ledger_pipelines.ledger.plan import PostingPlan

EVENTS_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64, "line_no": pl.Int64, "event_id": pl.Utf8, "event_type": pl.Utf8, "raw": pl.Binary,
    "source_file": pl.Utf8, "effective_at": pl.Datetime("us", "UTC"), "recorded_at": pl.Datetime("us", "UTC"),
    "content_hash": pl.Utf8,
}
DUPLICATES_SCHEMA: dict[str, pl.DataType] = {"seq": pl.Int64, "event_id": pl.Utf8, "first_seq": pl.Int64}

LOG = logging.getLogger(__name__)
# Not a problem of the data: never turned into a quarantined file (database errors are retried by
# the caller; memory and interrupts are the machine's or the operator's).
NOT_DATA_ERRORS: tuple[type[BaseException], ...] = (psycopg.Error, MemoryError, KeyboardInterrupt, SystemExit, GeneratorExit)


@dataclass
class PreparedBatch:
    """What the front end hands to the database side (see :class:`ledger_pipelines.ingest.writer.PreparedBatch`)."""

    plan: PostingPlan
    rejects: pl.DataFrame  # REJECT_COLUMNS: seq (null for a whole file), line_no, event_id, event_type, reason_code, message, raw, source_file
    in_batch_duplicates: pl.DataFrame  # seq, event_id, first_seq
    events: pl.DataFrame  # EVENTS_SCHEMA: the events in the plan
    bytes_read: int
    counts: dict[str, int]
    effective_dates: list[date]  # reporting-time-zone days the plan touches
    sources: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def prepare_batch(
    sources: Sequence[str | Path | pl.DataFrame | bytes],
    rules: RuleSet | None = None,
    settings: Settings | None = None,
    *,
    now: datetime | None = None,
    root: Path | None = None,
) -> PreparedBatch:
    """Read, validate, hash, de-duplicate and map ``sources`` as one batch; see the module docs.

    Files are read within the settings' limits (:class:`ReadLimits`); with ``root`` (the folder
    they were found in) only regular files inside it are read, no link followed. A ``bytes``
    source is JSON lines already in memory (the outbox's ``envelope`` rows), read like a file.
    """
    settings = settings or load_settings()
    rules = rules or load_rules(settings.rules_path)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    clock = time.perf_counter()
    limits = ReadLimits.of(settings)
    raws = [_read_source(number, source, limits, root) for number, source in enumerate(sources)]
    read_seconds = time.perf_counter() - clock
    try:
        return _prepare_raws(raws, rules, settings, now, read_seconds)
    except NOT_DATA_ERRORS:
        raise
    except (Exception, pl.exceptions.PanicException) as exc:
        failure = exc
    # One of the sources broke validation or mapping: find which (each alone), set it aside as a
    # whole unreadable file and prepare the others again.
    readable = [number for number, raw in enumerate(raws) if not raw.unreadable]
    if len(readable) == 1:
        raws[readable[0]] = _failed_source(raws[readable[0]].source_file, failure)
    else:
        for number in readable:
            try:
                _prepare_raws([raws[number]], rules, settings, now, 0.0)
            except NOT_DATA_ERRORS:
                raise
            except (Exception, pl.exceptions.PanicException) as exc:
                raws[number] = _failed_source(raws[number].source_file, exc)
    try:
        return _prepare_raws(raws, rules, settings, now, read_seconds)
    except NOT_DATA_ERRORS:
        raise
    except (Exception, pl.exceptions.PanicException) as exc:  # only together do they fail: set all aside
        raws = [raw if raw.unreadable else _failed_source(raw.source_file, exc) for number, raw in enumerate(raws)]
        return _prepare_raws(raws, rules, settings, now, read_seconds)


def _read_source(number: int, source: str | Path | pl.DataFrame | bytes, limits: ReadLimits, root: Path | None) -> RawFile:
    """Read one source; an unexpected error makes it a whole unreadable file (see the module docs)."""
    name = f"frame:{number}" if isinstance(source, pl.DataFrame) else f"jsonl:{number}" if isinstance(source, bytes) else str(source)
    try:
        if isinstance(source, bytes):
            return read_jsonl_bytes(source, name)
        return read_frame(source, name) if isinstance(source, pl.DataFrame) else read_path(source, limits, root=root)
    except NOT_DATA_ERRORS:
        raise
    except (Exception, pl.exceptions.PanicException) as exc:
        return _failed_source(name, exc)


def _failed_source(name: str, exc: BaseException) -> RawFile:
    """The whole source as one ``unreadable_file`` reject, after an unexpected error on it (its bytes stay
    in the file the quarantine entry points at)."""
    LOG.error("ingestion of %s failed unexpectedly; the file is quarantined as a whole", name, exc_info=exc)
    detail = " ".join(str(exc).split())[:200] or "no details"
    return unreadable_file(name, f"the file could not be processed: an unexpected {type(exc).__name__} ({detail}); nothing from "
                            "it was posted. Check that it follows docs/source-events.md (format, column names and column "
                            "types), re-export it and drop it again; if it does, report this message to the platform team "
                            "(the ingest log has the details).")


def _prepare_raws(raws: list[RawFile], rules: RuleSet, settings: Settings, now: datetime, read_seconds: float) -> PreparedBatch:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    frames, file_rejects, offset = [], [], 0
    for raw in raws:
        if raw.unreadable:
            file_rejects.append({
                "seq": None, "line_no": None, "event_id": None, "event_type": None, "reason_code": raw.file_reason,
                "message": f"{raw.source_file}: {raw.file_message}", "raw": b"", "source_file": raw.source_file,
            })
            continue
        frames.append(raw.frame.with_columns(pl.col("seq") + offset))
        offset += raw.frame.height
    lines = pl.concat(frames) if frames else pl.DataFrame(schema=_raw_schema())
    timings["read"] = read_seconds + time.perf_counter() - clock

    clock = time.perf_counter()
    line_rejects = lines.filter(pl.col("reason_code").is_not_null()).select(
        "seq", "line_no", pl.lit(None, pl.Utf8).alias("event_id"), pl.lit(None, pl.Utf8).alias("event_type"),
        "reason_code", "message", "raw", "source_file",
    )
    validated = validate_events(lines.filter(pl.col("reason_code").is_null()), rules, settings, now)
    timings["validate"] = time.perf_counter() - clock

    clock = time.perf_counter()
    events = validated.events.with_columns(content_hash=content_hashes(validated.events))
    events, duplicates, conflicts = _settle_repeats(events)
    timings["hash"] = time.perf_counter() - clock

    clock = time.perf_counter()
    plan, map_rejects = map_events(events, rules, settings)
    mapped_rejects = events.join(map_rejects, on="seq").select(list(REJECT_COLUMNS))
    events = events.join(map_rejects.select("seq"), on="seq", how="anti")
    timings["map"] = time.perf_counter() - clock

    clock = time.perf_counter()
    rejects = pl.concat([
        pl.DataFrame(file_rejects, schema=REJECT_COLUMNS),
        line_rejects.cast(REJECT_COLUMNS),
        validated.rejects.cast(REJECT_COLUMNS),
        conflicts.cast(REJECT_COLUMNS),
        mapped_rejects.cast(REJECT_COLUMNS),
    ]).sort("seq", nulls_last=True)
    counts = {
        "events": lines.height + len(file_rejects),
        "planned": events.height,
        "rejected": rejects.height,
        "duplicates": duplicates.height,
        "files": len(raws),
        "unreadable_files": len(file_rejects),
    }
    _check_accounted(lines, plan, rejects, duplicates, counts)
    effective_dates = _touched_dates(plan, settings.timezone)
    timings["assemble"] = time.perf_counter() - clock
    return PreparedBatch(
        plan=plan,
        rejects=rejects,
        in_batch_duplicates=duplicates,
        events=events.select(list(EVENTS_SCHEMA)),
        bytes_read=sum(r.bytes_read for r in raws),
        counts=counts,
        effective_dates=effective_dates,
        sources=[r.source_file for r in raws],
        timings=timings,
    )


def _raw_schema() -> dict[str, pl.DataType]:
    from ledger_pipelines.ingest.readers import RAW_SCHEMA

    return RAW_SCHEMA


def _settle_repeats(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The same event id twice in one batch: identical content -> duplicate, different -> conflict.

    The first occurrence (lowest ``seq``) stands in both cases. Only the repeated ids are looked
    at closely; the batch is filtered once.
    """
    conflict_columns = ["seq", "line_no", "event_id", "event_type", "reason_code", "message", "raw", "source_file"]
    repeated = events["event_id"].is_duplicated()
    if not repeated.any():
        empty = events.head(0).with_columns(reason_code=pl.lit(None, pl.Utf8), message=pl.lit(None, pl.Utf8))
        return events, pl.DataFrame(schema=DUPLICATES_SCHEMA), empty.select(conflict_columns)
    subset = events.filter(repeated).select("seq", "line_no", "event_id", "event_type", "content_hash", "raw", "source_file").sort("seq")
    first = subset.group_by("event_id").agg(
        pl.col("seq").first().alias("first_seq"), pl.col("content_hash").first().alias("first_hash"),
        pl.col("line_no").first().alias("first_line"), pl.col("source_file").first().alias("first_file"),
    )
    later = subset.join(first, on="event_id", how="left").filter(pl.col("seq") != pl.col("first_seq"))
    duplicates = later.filter(pl.col("content_hash") == pl.col("first_hash")).select(list(DUPLICATES_SCHEMA))
    conflicts = later.filter(pl.col("content_hash") != pl.col("first_hash")).select(
        "seq", "line_no", "event_id", "event_type", pl.lit(R.EVENT_ID_CONFLICT).alias("reason_code"),
        pl.format("event_id {} was already used earlier in this batch ({} line {}) by an event with different content; "
                  "the first one stands. Give a different event a new id; to change a posted event send a reversal.",
                  pl.col("event_id"), pl.col("first_file"), pl.col("first_line")).alias("message"),
        "raw", "source_file",
    )
    kept = events.filter(~pl.col("seq").is_in(later["seq"].implode()))
    return kept, duplicates.cast(DUPLICATES_SCHEMA), conflicts


def _touched_dates(plan: PostingPlan, timezone: str) -> list[date]:
    instants = pl.concat([
        plan.postings.select(pl.col("effective_at").alias("at")),
        plan.transitions.select("at"),
        plan.reversals.select(pl.col("effective_at").alias("at")),
    ])
    if instants.is_empty():
        return []
    days = instants.select(local_day_expr(pl.col("at"), timezone).unique().sort())["at"]
    return days.to_list()


def _check_accounted(lines: pl.DataFrame, plan: PostingPlan, rejects: pl.DataFrame, duplicates: pl.DataFrame,
                     counts: dict[str, int]) -> None:
    """Every event is in exactly one of plan / rejects / duplicates (raise otherwise: a bug, not bad data)."""
    size = lines.height
    planned = np.zeros(size, dtype=np.int64)
    for frame in (plan.postings, plan.transitions, plan.reversals):
        planned[frame["seq"].to_numpy()] = 1  # an event may have rows in two frames (corrections)
    if int(planned.sum()) != counts["planned"]:
        raise AssertionError(f"{counts['planned']} events were mapped but the plan holds {int(planned.sum())}")
    marks = planned + np.bincount(rejects["seq"].drop_nulls().to_numpy(), minlength=size)[:size] \
        + np.bincount(duplicates["seq"].to_numpy(), minlength=size)[:size]
    if size and not (marks == 1).all():
        raise AssertionError(f"events without exactly one outcome: {np.flatnonzero(marks != 1)[:10].tolist()}")
    if counts["events"] != counts["planned"] + counts["rejected"] + counts["duplicates"]:
        raise AssertionError(f"counts do not add up: {counts}")
