"""The outbox as a durable work queue: claim, post, mark done; retries, poison, pruning, lag.

One step of a consumer (a worker of ``subledger workers``, or the Dagster asset that drains once):

1. **claim** (autocommit, ``ingest.claim_outbox``): up to ``batch_size`` waiting rows from lanes no
   other consumer holds, oldest first. A lane is the hash of the event's order key (subscription,
   target event, guarded account: sql/schema/functions/ingest.outbox_order_key.sql), so events whose outcome depends on their order
   are posted in outbox order by one consumer at a time, and other lanes go on in parallel. The
   claim counts a try on each row and commits, so a consumer killed while posting is seen.
2. **post** in ONE database transaction: the same front end and bulk path as files
   (:func:`~ledger_pipelines.ingest.prepare.prepare_batch`, :func:`~ledger_pipelines.ingest.writer.write_batch`)
   and ``ingest.finish_outbox``. A crash at any point leaves either everything or nothing.
3. **on failure** (an exception; a kill is seen by the next claim) the rows become *suspects*: they
   are claimed again alone, a quarter of the claim at a time, until the row that fails is alone.
   A row that failed alone more than ``max_tries`` times is *poison*: it is quarantined (reason
   ``unreadable_file``, the message names the error) and its lane goes on.

Bad events are not failures: validation and the ledger quarantine them per event, in step 2.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import polars as pl
import psycopg

from ledger_pipelines.config import Settings
from ledger_pipelines.failpoints import failpoint
from ledger_pipelines.ingest import reasons as R
from ledger_pipelines.ingest.ingestor import Ingestor, ingestor
from ledger_pipelines.ingest.prepare import DUPLICATES_SCHEMA, EVENTS_SCHEMA, PreparedBatch, prepare_batch
from ledger_pipelines.ingest.readers import ENVELOPE_FIELDS
from ledger_pipelines.ingest.validation import REJECT_COLUMNS
from ledger_pipelines.ingest.writer import BatchReport, write_batch
from ledger_pipelines.ledger.chain import seal
from ledger_pipelines.ledger.plan import PostingPlan
from ledger_pipelines.ledger.posting import RETRYABLE
from ledger_pipelines.paths import read_sql
from ledger_pipelines.service.settings import ServiceSettings, load_service_settings

LOG = logging.getLogger(__name__)
SOURCE_NAME = "outbox"
MAX_BACKOFF_SECONDS = 60.0
PRUNE_CHUNK = 10_000


@dataclass(frozen=True)
class ClaimedRow:
    """One outbox row as claimed (``sql/service/claim_outbox.sql``)."""

    outbox_id: int
    lane: int
    tries: int  # this claim included
    solo_tries: int  # claims in which it was alone, this one included
    claim_size: int
    last_error: str | None
    envelope: str | None
    event_id: str | None
    event_type: str | None
    effective_at: str | None
    recorded_at: str | None
    subscription_id: str | None
    customer_id: str | None
    amount: str | None
    currency: str | None
    payload: str | None
    metadata: str | None
    inserted_at: datetime

    def raw(self) -> bytes:
        """The event as received: the envelope, or the columns as one JSON object (payload/metadata
        embedded when they are JSON)."""
        if self.envelope is not None:
            return self.envelope.encode()
        document: dict[str, object] = {}
        for name in ENVELOPE_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if name in ("payload", "metadata"):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            document[name] = value
        return json.dumps(document, ensure_ascii=False).encode()


_ROW_FIELDS = [f.name for f in fields(ClaimedRow)]


@dataclass(frozen=True)
class Claim:
    rows: list[ClaimedRow]

    @property
    def ids(self) -> list[int]:
        return [row.outbox_id for row in self.rows]

    @property
    def suspect(self) -> bool:
        """Claimed before without finishing (a failure or a killed consumer): claimed alone, bisected."""
        return self.rows[0].tries > 1


def claim(conn: psycopg.Connection, max_rows: int, up_to: int | None = None) -> Claim | None:
    """Claim waiting rows (module docs, step 1); None when no lane has work for this consumer.

    ``conn`` must be in autocommit mode: the claim (and the try it counts) commits at once, while the
    lanes stay held by this session until its next claim or until it disconnects.
    """
    rows = conn.execute(read_sql("service/claim_outbox.sql"), {"max_rows": max_rows, "up_to": up_to}).fetchall()
    if not rows:
        return None
    return Claim([ClaimedRow(**dict(zip(_ROW_FIELDS, row, strict=True))) for row in rows])


def prepare_claim(claim_: Claim, ingest: Ingestor) -> PreparedBatch:
    """The claimed rows through the ingestion front end, in outbox order.

    Consecutive ``envelope`` rows are one JSON-lines source (read exactly like a file), consecutive
    column rows one frame (like the outbox was always read). Each row is exactly one event, so the
    event at position ``seq`` is row ``seq``: its quarantine entry gets ``line_no`` = the outbox id
    (and the row's event id when the event was refused before its id could be read).
    """
    sources: list[bytes | pl.DataFrame] = []
    run: list[ClaimedRow] = []
    for row in [*claim_.rows, None]:
        if run and (row is None or (row.envelope is None) != (run[0].envelope is None)):
            if run[0].envelope is not None:
                sources.append("\n".join(r.envelope for r in run).encode() + b"\n")
            else:
                sources.append(pl.DataFrame({name: [getattr(r, name) for r in run] for name in ENVELOPE_FIELDS},
                                            schema={name: pl.Utf8 for name in ENVELOPE_FIELDS}))
            run = []
        if row is not None:
            run.append(row)
    prepared = prepare_batch(sources, ingest.rules, ingest.settings)
    rows = pl.DataFrame({"seq": range(len(claim_.rows)), "outbox_id": claim_.ids, "row_event_id": [r.event_id for r in claim_.rows]},
                        schema={"seq": pl.Int64, "outbox_id": pl.Int64, "row_event_id": pl.Utf8})

    def by_outbox_id(frame: pl.DataFrame) -> pl.DataFrame:
        """line_no = the outbox id; an event refused before its id was read (malformed JSON) gets the row's."""
        return (frame.join(rows, on="seq", how="left")
                .with_columns(line_no=pl.coalesce("outbox_id", "line_no"), event_id=pl.coalesce("event_id", "row_event_id"),
                              source_file=pl.lit(SOURCE_NAME))
                .select(frame.columns))

    prepared.rejects = by_outbox_id(prepared.rejects)
    prepared.events = by_outbox_id(prepared.events)
    return prepared


class ClaimFailed(Exception):
    """The claimed rows could not be posted; they are retried as suspects (module docs, step 3)."""


def poison_batch(row: ClaimedRow, message: str) -> PreparedBatch:
    """A batch that quarantines ``row`` whole with ``message`` (reason ``unreadable_file``)."""
    reject = pl.DataFrame([{
        "seq": 0, "line_no": row.outbox_id, "event_id": row.event_id, "event_type": row.event_type,
        "reason_code": R.UNREADABLE_FILE, "message": message, "raw": row.raw(), "source_file": SOURCE_NAME,
    }], schema=REJECT_COLUMNS)
    return PreparedBatch(
        plan=PostingPlan(), rejects=reject, in_batch_duplicates=pl.DataFrame(schema=DUPLICATES_SCHEMA),
        events=pl.DataFrame(schema=EVENTS_SCHEMA), bytes_read=len(row.raw()), counts={"events": 1, "planned": 0, "rejected": 1, "duplicates": 0},
        effective_dates=[], sources=[SOURCE_NAME],
    )


def _poison_message(row: ClaimedRow) -> str:
    cause = (f"the last error was: {row.last_error}" if row.last_error
             else "the worker posting it stopped (killed or crashed) before it finished")
    return (f"outbox row {row.outbox_id}: posting this event failed {row.solo_tries - 1} times on its own, so it was "
            f"set aside ({cause}). Nothing of it was posted. Check it against docs/source-events.md, correct it and "
            "send it again (subledger replay, or the API); if it follows the contract, report this message.")


class Consumer:
    """Claims and posts outbox batches on one writer connection (module docs). Not thread-safe."""

    def __init__(self, ingest: Ingestor, service: ServiceSettings, *, name: str = "consumer"):
        self.ingest = ingest
        self.conn = ingest.conn
        self.conn.autocommit = True
        self.service = service
        self.name = name

    def step(self, up_to: int | None = None) -> BatchReport | None:
        """Claim and post one batch; None when there was nothing to claim. A failure is recorded on
        the rows (they are retried as suspects) and raised as :class:`ClaimFailed`."""
        claimed = claim(self.conn, self.service.batch_size, up_to)
        if claimed is None:
            return None
        failpoint("queue.after_claim")
        if len(claimed.rows) == 1 and claimed.rows[0].solo_tries > self.service.max_tries:
            row = claimed.rows[0]
            LOG.error("outbox row %s (event %r) is poison: quarantined after %s tries alone", row.outbox_id, row.event_id,
                      row.solo_tries - 1)
            return self._post(claimed, poison_batch(row, _poison_message(row)))
        try:
            prepared = prepare_claim(claimed, self.ingest)
            whole = prepared.rejects.filter(pl.col("seq").is_null())
            if whole.height:
                raise ClaimFailed(whole["message"][0])
            failpoint("queue.before_post")
            return self._post(claimed, prepared)
        except (psycopg.OperationalError, KeyboardInterrupt, SystemExit):
            raise  # the connection or the process is gone: the next claim sees the tries
        except Exception as exc:
            self._record_failure(claimed, exc)
            raise exc if isinstance(exc, ClaimFailed) else ClaimFailed(f"{type(exc).__name__}: {exc}") from exc

    def _post(self, claimed: Claim, prepared: PreparedBatch) -> BatchReport:
        ids = claimed.ids
        digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:32]
        for attempt in range(1, 4):
            started = time.perf_counter()
            try:
                with self.conn.transaction():
                    report = write_batch(
                        self.conn, prepared, settings=self.ingest.settings, rules=self.ingest.rules,
                        account_types=self.ingest.account_types, source_kind="outbox",
                        source_name=f"outbox rows {ids[0]}..{ids[-1]} ({len(ids)})", content_hash=f"outbox:{digest}",
                        started=started,
                    )
                    self.conn.execute(read_sql("service/finish_outbox.sql"), {"outbox_ids": ids, "batch_id": report.batch_id})
                    failpoint("queue.before_commit")
                seal(self.conn)  # the committed batch, into the hash chain
                return report
            except RETRYABLE:
                if attempt == 3:
                    raise
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def _record_failure(self, claimed: Claim, exc: BaseException) -> None:
        rows = claimed.rows
        alone = len(rows) == 1
        wait = min(MAX_BACKOFF_SECONDS, 2.0 ** (rows[0].solo_tries - 1)) if alone else 0.0
        LOG.warning("%s: posting outbox rows %s..%s (%s) failed (%s: %s); %s", self.name, rows[0].outbox_id,
                    rows[-1].outbox_id, len(rows), type(exc).__name__, exc,
                    f"retrying it alone in {wait:g} s" if alone else "retrying them in smaller claims",
                    exc_info=not isinstance(exc, ClaimFailed))
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.conn.rollback()
        self.conn.execute(read_sql("service/fail_outbox.sql"), {
            "outbox_ids": claimed.ids, "error": f"{type(exc).__name__}: {exc}", "retry_after": timedelta(seconds=wait),
        })


def drain(settings: Settings, *, service: ServiceSettings | None = None,
          should_stop: Callable[[], bool] = lambda: False) -> list[BatchReport]:
    """Post every outbox row waiting now (the Dagster asset, ``subledger run``): one consumer, the
    same claims as the workers, so it never posts a row a worker posts. Rows inserted after it
    started, rows in lanes a worker holds and rows waiting out a failure are left to later runs.
    """
    service = service or load_service_settings(settings)
    reports: list[BatchReport] = []
    with ingestor(settings) as ing:
        consumer = Consumer(ing, service, name="drain")
        up_to = consumer.conn.execute(read_sql("service/outbox_last_id.sql")).fetchone()[0]
        while not should_stop():
            try:
                report = consumer.step(up_to)
            except ClaimFailed:
                continue  # recorded on the rows; they come back as smaller claims (or after a wait)
            if report is None:
                break
            reports.append(report)
    return reports


def merge_reports(reports: list[BatchReport]) -> BatchReport | None:
    """One report for several batches (what a drain did), or None for none."""
    if not reports:
        return None
    merged = BatchReport(batch_id=",".join(r.batch_id for r in reports),
                         source_name=f"outbox: {len(reports)} batch(es)")
    for name in ("events", "posted", "pending", "duplicate", "quarantined", "backdated", "bytes", "seconds"):
        setattr(merged, name, sum(getattr(r, name) for r in reports))
    merged.effective_dates = sorted({d for r in reports for d in r.effective_dates})
    for report in reports:
        for code, count in report.reasons.items():
            merged.reasons[code] = merged.reasons.get(code, 0) + count
    return merged


def prune(conn: psycopg.Connection, retention_hours: float) -> int:
    """Delete outbox rows processed more than ``retention_hours`` ago, in chunks; how many.

    Their outcomes stay in the ledger and ``ingest.event_outcomes``; only the queue's copy goes.
    """
    removed = 0
    while True:
        with conn.transaction():
            chunk = conn.execute(read_sql("service/prune_outbox.sql"),
                                 {"retention": timedelta(hours=retention_hours), "max_rows": PRUNE_CHUNK}).fetchone()[0]
        removed += chunk
        if chunk < PRUNE_CHUNK:
            return removed


@dataclass(frozen=True)
class QueueStats:
    """The queue now (``sql/service/queue_stats.sql``); ages and lags in seconds."""

    depth: int
    oldest_age_seconds: float
    retrying: int
    backing_off: int
    processed_recently: int
    lag_p50_seconds: float
    lag_p95_seconds: float
    lag_max_seconds: float
    workers: int
    open_quarantine: int


STATS_WINDOW = timedelta(minutes=5)


def queue_stats(conn: psycopg.Connection) -> QueueStats:
    """Depth, age of the oldest waiting event, and lag of the events posted in the last five minutes."""
    row = conn.execute(read_sql("service/queue_stats.sql"), {"window": STATS_WINDOW}).fetchone()
    return QueueStats(int(row[0]), float(row[1]), int(row[2]), int(row[3]), int(row[4]), float(row[5]), float(row[6]),
                      float(row[7]), int(row[8]), int(row[9]))
