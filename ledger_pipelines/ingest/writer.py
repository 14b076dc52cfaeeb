"""Writing a prepared batch: one database transaction, every event accounted for exactly once.

Inside one transaction (so a crash anywhere leaves no trace, and a rerun redoes it all):

1. claim the batch by its content hash (a file is processed once per content; a concurrent
   ingester of the same content waits, then finds it done);
2. complete corrections of postings from earlier batches (their amounts come from the corrected
   transaction's payload, read under the same transaction) and apply the closed-period policy (``quarantine`` lets the ledger refuse the event with
   ``period_closed``; ``next_open_day`` re-dates it to the first open instant and keeps the
   intended date in the transaction's metadata);
3. post the plan through the ledger's bulk path (:func:`ledger_pipelines.ledger.bulk.apply_plan`);
4. store the quarantine (raw bytes + reason) and the duplicate/quarantine outcomes, resolve
   earlier quarantine entries of the same event ids (replays), fill in the batch's counts.

Once it is committed, the batch is sealed into the ledger's hash chain (``ledger.seal_chain``),
here or, for a caller that seals beside its next batch (``seal=False``, ``Ingestor.ingest_files``),
by that caller.

Invariant: ``events = posted + pending + duplicate + quarantined`` for every batch (also a CHECK
constraint on ``ingest.batches``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

import polars as pl
import psycopg
from psycopg.types.json import Jsonb

from ledger_pipelines.accounting.calendar import local_day_expr
from ledger_pipelines.config import Settings
from ledger_pipelines.failpoints import failpoint
from ledger_pipelines.ingest.landing import FileIdentity
from ledger_pipelines.ingest.mapping import complete_deferred, deferred_postings
from ledger_pipelines.ingest.rules import RuleSet
from ledger_pipelines.ledger.bulk import PlanResult, apply_plan
from ledger_pipelines.ledger.chain import seal
from ledger_pipelines.ledger.plan import PostingPlan
from ledger_pipelines.logging import log_context
from ledger_pipelines.paths import read_sql
from ledger_pipelines.postgres.copy import copy_frame

LOG = logging.getLogger(__name__)

QUARANTINE_COLUMNS = ["batch_id", "seq", "line_no", "event_id", "event_type", "reason_code", "message", "raw", "source_name",
                      "file_path", "file_sha256", "file_bytes"]
OUTCOME_COLUMNS = ["batch_id", "seq", "event_id", "outcome", "reason_code", "transaction_id"]


class PreparedBatch(Protocol):
    """What the ingestion front end hands over (see ``ledger_pipelines.ingest.prepare``)."""

    plan: PostingPlan
    rejects: pl.DataFrame  # seq, line_no, event_id, event_type, reason_code, message, raw, source_file
    in_batch_duplicates: pl.DataFrame  # seq, event_id, first_seq
    events: pl.DataFrame  # seq, line_no, event_id, event_type, raw, source_file, effective_at, recorded_at
    bytes_read: int


@dataclass
class BatchReport:
    """What one batch did; ``as_json`` is the ``subledger ingest --json`` document."""

    batch_id: str
    source_name: str
    skipped: bool = False  # the same content was ingested before: nothing was done
    events: int = 0
    posted: int = 0
    pending: int = 0
    duplicate: int = 0
    quarantined: int = 0
    backdated: int = 0
    bytes: int = 0
    seconds: float = 0.0
    effective_dates: list[date] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    # Seconds per stage (front end, each database step, commit): where a batch spends its time.
    timings: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("events", "posted", "pending", "duplicate", "quarantined")}

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _existing_report(conn: psycopg.Connection, source_kind: str, content_hash: str) -> BatchReport | None:
    row = conn.execute(read_sql("ingest/find_batch.sql"), {"source_kind": source_kind, "content_hash": content_hash}).fetchone()
    if row is None:
        return None
    return BatchReport(
        batch_id=row[0], source_name=row[1], skipped=True, events=row[2], posted=row[3], pending=row[4],
        duplicate=row[5], quarantined=row[6], backdated=row[7], bytes=row[8], seconds=row[9] or 0.0,
        effective_dates=list(row[10]), reasons=dict(row[11]),
    )


def already_ingested(conn: psycopg.Connection, source_kind: str, content_hash: str) -> BatchReport | None:
    """The earlier batch of this exact content, if any (cheap check before parsing a file)."""
    return _existing_report(conn, source_kind, content_hash)


def write_batch(
    conn: psycopg.Connection,
    prepared: PreparedBatch,
    *,
    settings: Settings,
    rules: RuleSet,
    source_kind: str,
    source_name: str,
    content_hash: str,
    account_types: Mapping[str, str],
    outbox_window: tuple[int, int] | None = None,
    started: float | None = None,
    file: FileIdentity | None = None,
    seal: bool = True,
) -> BatchReport:
    """Write ``prepared`` as one batch in one database transaction; see the module docs.

    With ``seal`` the committed batch is sealed into the hash chain before this returns; without
    it the caller seals it (and must: until a seal, its rows are not tamper-evident).

    ``file`` is the landed file of a file or replay batch: every quarantine entry of the batch
    points at it (path, sha256, size), which is where the bytes of a whole unreadable file or of
    a line too long to be kept are.

    Every log record made meanwhile carries ``batch_id`` and ``source`` (structured logs,
    docs/operations.md); one line per batch states its outcome counts.
    """
    batch_id = str(uuid.uuid4())
    with log_context(batch_id=batch_id, source=source_name):
        report = _write_batch(
            conn, prepared, batch_id=batch_id, settings=settings, rules=rules, source_kind=source_kind,
            source_name=source_name, content_hash=content_hash, account_types=account_types,
            outbox_window=outbox_window, started=started, file=file, seal_after_commit=seal,
        )
    with log_context(batch_id=report.batch_id, source=source_name):
        LOG.info(
            "batch %s (%s): %s%s", report.batch_id, source_name, json.dumps(report.as_json(), sort_keys=True),
            " (already ingested)" if report.skipped else "",
        )
    return report


def _write_batch(
    conn: psycopg.Connection,
    prepared: PreparedBatch,
    *,
    batch_id: str,
    settings: Settings,
    rules: RuleSet,
    source_kind: str,
    source_name: str,
    content_hash: str,
    account_types: Mapping[str, str],
    outbox_window: tuple[int, int] | None,
    started: float | None,
    file: FileIdentity | None,
    seal_after_commit: bool,
) -> BatchReport:
    started = started or time.perf_counter()
    timings: dict[str, float] = {f"front.{k}": v for k, v in getattr(prepared, "timings", {}).items()}
    clock = time.perf_counter()
    with conn.transaction():
        claimed = conn.execute(
            read_sql("ingest/claim_batch.sql"),
            {
                "batch_id": batch_id, "source_kind": source_kind, "source_name": source_name,
                "content_hash": content_hash, "bytes": prepared.bytes_read,
                "outbox_xmin": outbox_window[0] if outbox_window else None,
                "outbox_xmax": outbox_window[1] if outbox_window else None,
            },
        ).fetchone()
        if claimed is None:
            existing = _existing_report(conn, source_kind, content_hash)
            assert existing is not None
            return existing
        conn.execute("SELECT set_config('subledger.actor', %s, true)", [f"ingest:{source_kind}"])

        plan, deferred_rejects = complete_corrections(conn, prepared, rules)
        plan = apply_closed_period_policy(conn, plan, settings)
        timings["db.claim_and_corrections"] = time.perf_counter() - clock
        result = apply_plan(conn, plan, batch_id=batch_id, account_types=account_types)
        timings.update({f"db.apply_plan.{k}": v for k, v in result.timings.items()})
        clock = time.perf_counter()
        rejects = pl.concat([prepared.rejects, deferred_rejects], how="diagonal_relaxed")
        report = _record_outcomes(conn, prepared, rejects, result, plan, batch_id, source_name, settings, file)
        timings["db.outcomes"] = time.perf_counter() - clock
        report.timings = timings
        report.seconds = time.perf_counter() - started
        failpoint("ingest.before_finish")
        conn.execute(
            read_sql("ingest/finish_batch.sql"),
            {
                "batch_id": batch_id, "events": report.events, "posted": report.posted, "pending": report.pending,
                "duplicate": report.duplicate, "quarantined": report.quarantined, "backdated": report.backdated,
                "seconds": report.seconds, "effective_dates": report.effective_dates, "reasons": Jsonb(report.reasons),
            },
        )
        failpoint("ingest.before_commit")
        clock = time.perf_counter()
    timings["db.commit"] = time.perf_counter() - clock
    failpoint("ingest.after_commit")
    if seal_after_commit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        # The batch is committed: seal it (and everything finished before it) into the hash chain. A
        # caller that wrapped the batch in its own transaction seals after that commits.
        clock = time.perf_counter()
        seal(conn)
        timings["db.seal"] = time.perf_counter() - clock
    return report


def complete_corrections(conn: psycopg.Connection, prepared: PreparedBatch, rules: RuleSet) -> tuple[PostingPlan, pl.DataFrame]:
    """Fill in corrections whose original posting is in an earlier batch; refuse the impossible.

    Returns the plan without the refused events, and their rejects (front-end reject columns).
    """
    plan = prepared.plan
    waiting = deferred_postings(plan)
    if waiting.is_empty():
        return plan, prepared.rejects.clear()
    rows = conn.execute(read_sql("ingest/current_payloads.sql"), {"references": waiting["reference"].unique().to_list()}).fetchall()
    payloads = pl.DataFrame(rows, schema={"reference": pl.Utf8, "payload": pl.Utf8}, orient="row")
    completed, refusals = complete_deferred(plan, payloads, rules)
    if refusals.is_empty():
        return completed, prepared.rejects.clear()
    refused = refusals.select(pl.col("seq").cast(pl.Int64))
    completed = PostingPlan(
        postings=completed.postings.join(refused, on="seq", how="anti"),
        legs=completed.legs.join(refused, on="seq", how="anti"),
        transitions=completed.transitions.join(refused, on="seq", how="anti"),
        reversals=completed.reversals.join(refused, on="seq", how="anti"),
    )
    rejects = refusals.join(prepared.events, on="seq", how="left").select(prepared.rejects.columns)
    return completed, rejects.cast(prepared.rejects.schema)


def _record_outcomes(
    conn: psycopg.Connection,
    prepared: PreparedBatch,
    rejects: pl.DataFrame,
    result: PlanResult,
    plan: PostingPlan,
    batch_id: str,
    source_name: str,
    settings: Settings,
    file: FileIdentity | None,
) -> BatchReport:
    events = prepared.events
    core = result.outcomes
    # Events rejected by the front end never reached the plan; duplicates inside the batch either.
    front_rejects = rejects.select(
        pl.col("seq").cast(pl.Int64), pl.col("line_no").cast(pl.Int64), pl.col("event_id").cast(pl.Utf8),
        pl.col("event_type").cast(pl.Utf8), pl.col("reason_code"), pl.col("message"), pl.col("raw").cast(pl.Binary),
        pl.col("source_file").cast(pl.Utf8).fill_null(source_name).alias("source_name"),
    ).with_columns(_postgres_text(["event_id", "event_type", "message", "source_name", "reason_code"]))
    core_rejects = (
        core.filter(pl.col("outcome") == "quarantined")
        .join(events.select("seq", "line_no", "event_type", "raw", pl.col("source_file").alias("source_name")), on="seq", how="left")
        .select("seq", pl.col("line_no").cast(pl.Int64), "event_id", pl.col("event_type").cast(pl.Utf8), "reason_code", "message",
                pl.col("raw").cast(pl.Binary), pl.col("source_name").cast(pl.Utf8).fill_null(source_name))
    )
    quarantine = pl.concat([front_rejects, core_rejects]).with_columns(
        batch_id=pl.lit(batch_id), raw=pl.col("raw").fill_null(b""), message=pl.col("message").fill_null(""),
        file_path=pl.lit(str(file.path) if file else None, pl.Utf8).str.replace_all("\x00", "\\u0000", literal=True),
        file_sha256=pl.lit(file.sha256 if file else None, pl.Utf8),
        file_bytes=pl.lit(file.size if file else None, pl.Int64),
    )
    copy_frame(conn, "ingest.quarantine", _binary_as_hex(quarantine), QUARANTINE_COLUMNS)

    duplicates = pl.concat([
        prepared.in_batch_duplicates.select(pl.col("seq").cast(pl.Int64), pl.col("event_id").cast(pl.Utf8),
                                            pl.lit(None, pl.Utf8).alias("transaction_id")),
        core.filter(pl.col("outcome") == "duplicate").select("seq", "event_id", "transaction_id"),
    ])
    # Lifecycle events that moved their target: the ledger row is the target's, keyed by another event.
    moves = core.filter((pl.col("outcome") == "posted") & pl.col("seq").is_in(plan.transitions["seq"].implode()))
    outcomes = pl.concat([
        moves.select("seq", "event_id", "outcome", pl.lit(None, pl.Utf8).alias("reason_code"), "transaction_id"),
        duplicates.select("seq", "event_id", pl.lit("duplicate").alias("outcome"), pl.lit(None, pl.Utf8).alias("reason_code"),
                          "transaction_id"),
        quarantine.select("seq", "event_id", pl.lit("quarantined").alias("outcome"), "reason_code",
                          pl.lit(None, pl.Utf8).alias("transaction_id")),
    ]).filter(pl.col("seq").is_not_null()).with_columns(batch_id=pl.lit(batch_id))
    copy_frame(conn, "ingest.event_outcomes", outcomes, OUTCOME_COLUMNS)

    # Earlier quarantine entries of event ids that have an outcome now (replays, re-sends), with the
    # transaction that stands for the event (an in-batch duplicate's is its first occurrence's).
    standing = core.select(pl.col("seq").alias("first_seq"), pl.col("transaction_id").alias("first_transaction_id"))
    latest = pl.concat([
        core.select("event_id", "outcome", "transaction_id"),
        duplicates.join(prepared.in_batch_duplicates.select(pl.col("seq").cast(pl.Int64), pl.col("first_seq").cast(pl.Int64)),
                        on="seq", how="left")
        .join(standing, on="first_seq", how="left")
        .select("event_id", pl.lit("duplicate").alias("outcome"),
                pl.coalesce("transaction_id", "first_transaction_id").alias("transaction_id")),
        front_rejects.select("event_id", pl.lit("quarantined").alias("outcome"), pl.lit(None, pl.Utf8).alias("transaction_id")),
    ]).drop_nulls("event_id").unique("event_id", keep="first")
    if latest.height:
        # Only ids with an open quarantine entry can be resolved: send those, not the whole batch.
        open_ids = [r[0] for r in conn.execute(read_sql("ingest/open_quarantine_event_ids.sql"), {"batch_id": batch_id}).fetchall()]
        latest = latest.filter(pl.col("event_id").is_in(pl.Series(open_ids, dtype=pl.Utf8).implode()))
    if latest.height:
        conn.execute(
            read_sql("ingest/resolve_quarantine.sql"),
            {"event_ids": latest["event_id"].to_list(), "outcomes": latest["outcome"].to_list(),
             "transaction_ids": latest["transaction_id"].to_list(), "batch_id": batch_id},
        )

    counts = result.counts()
    quarantined = counts["quarantined"] + front_rejects.height
    duplicate = counts["duplicate"] + prepared.in_batch_duplicates.height
    report = BatchReport(
        batch_id=batch_id,
        source_name=source_name,
        events=counts["posted"] + counts["pending"] + duplicate + quarantined,
        posted=counts["posted"],
        pending=counts["pending"],
        duplicate=duplicate,
        quarantined=quarantined,
        bytes=prepared.bytes_read,
        reasons={k: int(v) for k, v in quarantine.group_by("reason_code").len().iter_rows()},
    )
    report.effective_dates, report.backdated = _touched_days(plan, core, events, settings)
    return report


def _touched_days(plan: PostingPlan, outcomes: pl.DataFrame, events: pl.DataFrame, settings: Settings) -> tuple[list[date], int]:
    """Reporting-time-zone days whose balances this batch changed, and how many accepted events
    were backdated (effective on a day before the day they were recorded)."""
    accepted = outcomes.filter(pl.col("outcome").is_in(["posted", "pending"])).select("seq")
    tz = settings.timezone
    instants = pl.concat([
        plan.postings.select("seq", pl.col("effective_at").alias("at")),
        plan.transitions.select("seq", "at"),
        plan.reversals.select("seq", pl.col("effective_at").alias("at")),
    ]).join(accepted, on="seq", how="semi")
    days = sorted(instants.select(local_day_expr(pl.col("at"), tz).unique())["at"].to_list())
    backdated = 0
    if "recorded_at" in events.columns and "effective_at" in events.columns:
        backdated = (
            events.join(accepted, on="seq", how="semi")
            .filter(local_day_expr(pl.col("effective_at"), tz) < local_day_expr(pl.col("recorded_at"), tz))
            .height
        )
    return days, backdated


def _postgres_text(columns: list[str]) -> list[pl.Expr]:
    """Rejected input may carry NUL, which Postgres text cannot hold: write it as the escape
    ``\\u0000`` (the raw bytes keep the exact input)."""
    return [pl.col(c).str.replace_all("\x00", "\\u0000", literal=True) for c in columns]


def _binary_as_hex(frame: pl.DataFrame) -> pl.DataFrame:
    """COPY's CSV reads bytea as text in hex form (``\\x...``)."""
    return frame.with_columns(raw=pl.lit("\\x") + pl.col("raw").bin.encode("hex"))


def apply_closed_period_policy(conn: psycopg.Connection, plan: PostingPlan, settings: Settings) -> PostingPlan:
    """Under ``next_open_day``, re-date what falls in a closed period to the first open instant.

    The transaction keeps the intended date in its metadata (``intended_effective_at``); under
    ``quarantine`` the plan is unchanged and the ledger refuses such events (``period_closed``).
    """
    if settings.closed_period_policy != "next_open_day":
        return plan
    closed = conn.execute(read_sql("ingest/closed_periods.sql")).fetchall()
    if not closed:
        return plan
    ranges = _merged_ranges([(row[1], row[2]) for row in closed])
    def first_open(column: str) -> pl.Expr:
        expr = pl.col(column)
        for start, end in ranges:
            expr = pl.when((pl.col(column) >= start) & (pl.col(column) < end)).then(pl.lit(end)).otherwise(expr)
        return expr.cast(pl.Datetime("us", "UTC"))

    def redate(frame: pl.DataFrame, column: str) -> pl.DataFrame:
        if frame.is_empty():
            return frame
        moved = frame.with_columns(first_open(column).alias("_new"))
        changed = moved.filter(pl.col("_new") != pl.col(column))
        if changed.is_empty():
            return frame
        if "metadata" in frame.columns:
            notes = {
                seq: _with_intended(meta, at)
                for seq, meta, at in zip(changed["seq"].to_list(), changed["metadata"].to_list(), changed[column].to_list(), strict=True)
            }
            moved = moved.with_columns(
                metadata=pl.when(pl.col("_new") != pl.col(column))
                .then(pl.col("seq").replace_strict(notes, default=None, return_dtype=pl.Utf8))
                .otherwise(pl.col("metadata"))
            )
        return moved.with_columns(pl.col("_new").alias(column)).drop("_new")

    postings = redate(plan.postings, "effective_at")
    legs = plan.legs
    return PostingPlan(
        postings=postings,
        legs=legs,
        transitions=redate(plan.transitions, "at"),
        reversals=redate(plan.reversals, "effective_at"),
    )


def _with_intended(metadata: str | None, intended: datetime) -> str:
    document = json.loads(metadata) if metadata else {}
    document["intended_effective_at"] = intended.isoformat()
    return json.dumps(document, ensure_ascii=False, sort_keys=True)


def _merged_ranges(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Adjacent closed months merge, so a re-dated event lands after the whole closed run."""
    merged: list[list[datetime]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]
