"""Posting a whole batch, set-based: COPY straight into the ledger tables, checks as joins.

:func:`apply_plan` carries out a :class:`~ledger_pipelines.ledger.plan.PostingPlan` inside the
caller's open database transaction and returns one outcome per event (``seq``):
``posted`` / ``pending`` / ``duplicate`` / ``quarantined`` with a reason code and message. An
event is all-or-nothing: if any of its rows is refused, none of them is written.

How it stays correct and fast:

* a batch's idempotency keys are probed one at a time in the unique indexes (a join may scan a
  whole index, a cost that grows with the ledger), and just-in-time compilation is off for the
  batch's statements;
* batches take one advisory lock, so two processes ingesting overlapping files serialise and
  every event is posted exactly once (the idempotency key is checked under that lock);
* every balance the batch touches is locked in the global order before anything is decided,
  then balance conditions, lock versions and 64-bit overflow are decided in memory
  (:mod:`ledger_pipelines.ledger.guards`) against that locked state;
* everything that could make a database guard reject the batch (unknown targets, wrong
  lifecycle moves, closed periods, accounts that refuse a currency) is decided per event first,
  so one bad event never fails the batch; the database guards still check everything.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import polars as pl
import psycopg

from ledger_pipelines.accounting.accounts import account_code_expr_problem, normal_balance_expr
from ledger_pipelines.failpoints import failpoint
from ledger_pipelines.ledger.binary_copy import SIGNATURE, TRAILER, encode_rows
from ledger_pipelines.ledger.guards import evaluate_guards
from ledger_pipelines.ledger.ids import account_id_column, uuid7_column
from ledger_pipelines.ledger.plan import OUTCOMES_SCHEMA, UTC_TIME, PostingPlan
from ledger_pipelines.paths import read_sql

BULK_ADVISORY_LOCK = 0x5B1ED6E2  # one batch at a time per ledger database
COPY_CHUNK_ROWS = 200_000
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.6f%:z"

# The columns a batch writes, in COPY order, with their Postgres types (for the binary COPY).
TRANSACTION_COLUMN_TYPES = {
    "transaction_id": "uuid", "idempotency_key": "text", "status": "text", "effective_at": "timestamptz",
    "posted_at": "timestamptz", "reference": "text", "source_event_id": "text", "source_event_type": "text",
    "batch_id": "uuid", "content_hash": "text", "description": "text", "metadata": "jsonb", "source": "jsonb",
}
ENTRY_COLUMN_TYPES = {
    "transaction_id": "uuid", "entry_no": "int4", "account_id": "uuid", "direction": "text", "amount": "int8",
    "currency": "text", "effective_at": "timestamptz",
}
TRANSACTION_COLUMNS = list(TRANSACTION_COLUMN_TYPES)
ENTRY_COLUMNS = list(ENTRY_COLUMN_TYPES)


@dataclass(frozen=True)
class PlanResult:
    outcomes: pl.DataFrame  # OUTCOMES_SCHEMA, one row per seq of the plan
    transactions_created: int
    entries_created: int
    moves_applied: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage of the run (benchmarks)

    def counts(self) -> dict[str, int]:
        got = dict(self.outcomes.group_by("outcome").len().iter_rows())
        return {k: int(got.get(k, 0)) for k in ("posted", "pending", "duplicate", "quarantined")}


def copy_frame(conn: psycopg.Connection, table: str, frame: pl.DataFrame, columns: list[str]) -> int:
    """COPY ``frame[columns]`` into ``table`` as CSV (Polars writes it; no per-row Python)."""
    if frame.is_empty():
        return 0
    data = frame.select(columns)
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
    with conn.cursor().copy(statement) as copy:
        for chunk in data.iter_slices(COPY_CHUNK_ROWS):
            buffer = io.BytesIO()
            chunk.write_csv(buffer, include_header=False, datetime_format=DATETIME_FORMAT)
            copy.write(buffer.getvalue())
            failpoint(f"copy:{table}")  # crash tests: rows sent, COPY not finished
    return data.height


def copy_binary(conn: psycopg.Connection, table: str, frame: pl.DataFrame, column_types: Mapping[str, str]) -> int:
    """COPY ``frame`` into ``table`` in Postgres's binary format (:mod:`.binary_copy`).

    For the ledger's two hot tables: the server takes uuids, timestamps and integers as they
    are instead of parsing them from text. ``column_types`` maps each column, in COPY order, to
    its Postgres type.
    """
    if frame.is_empty():
        return 0
    statement = f"COPY {table} ({', '.join(column_types)}) FROM STDIN (FORMAT binary)"
    with conn.cursor().copy(statement) as copy:
        copy.write(SIGNATURE)
        for chunk in frame.iter_slices(COPY_CHUNK_ROWS):
            copy.write(encode_rows(chunk, column_types))
            failpoint(f"copy:{table}")  # crash tests: rows sent, COPY not finished
        copy.write(TRAILER)
    return frame.height


def apply_plan(
    conn: psycopg.Connection,
    plan: PostingPlan,
    *,
    batch_id: str,
    account_types: Mapping[str, str],
) -> PlanResult:
    """Carry out ``plan`` in the caller's open transaction; see the module docs."""
    return _Run(conn, plan.conform(), batch_id, dict(account_types)).execute()


def _refusals(frame: pl.DataFrame, reason_code: str, message: pl.Expr | str) -> pl.DataFrame:
    msg = pl.lit(message) if isinstance(message, str) else message
    return frame.select(
        pl.col("seq"), pl.lit(reason_code).alias("reason_code"), msg.cast(pl.Utf8).alias("message")
    ).unique("seq", keep="first")


class _Run:
    def __init__(self, conn: psycopg.Connection, plan: PostingPlan, batch_id: str, account_types: dict[str, str]):
        self.conn = conn
        self.plan = plan
        self.batch_id = batch_id
        self.account_types = account_types
        self.refused = pl.DataFrame(schema={"seq": pl.Int64, "reason_code": pl.Utf8, "message": pl.Utf8})
        self.duplicates = pl.DataFrame(schema={"seq": pl.Int64, "transaction_id": pl.Utf8})
        self._entries_created = 0
        self.timings: dict[str, float] = {}

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        """Add the wall time of the block to ``timings[name]`` (where a batch spends its time)."""
        clock = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - clock

    # -- bookkeeping ---------------------------------------------------------------------------
    def refuse(self, refusals: pl.DataFrame) -> None:
        if refusals.height:
            self.refused = pl.concat([self.refused, refusals]).unique("seq", keep="first", maintain_order=True)

    def alive(self, frame: pl.DataFrame) -> pl.DataFrame:
        gone = pl.concat([self.refused.select("seq"), self.duplicates.select("seq")])
        return frame.join(gone, on="seq", how="anti") if gone.height else frame

    # -- the run -------------------------------------------------------------------------------
    def execute(self) -> PlanResult:
        with self._stage("lock"):
            self.conn.execute("SELECT set_config('subledger.batch_id', %s, true)", [self.batch_id])
            # A batch is many short index-driven statements whose estimated costs still cross the
            # JIT thresholds; compiling them costs 0.1-0.2 s each and saves nothing.
            self.conn.execute("SELECT set_config('jit', 'off', true)")
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [BULK_ADVISORY_LOCK])
            self.conn.execute(read_sql("ledger/bulk/create_staging.sql"))
        with self._stage("idempotency"):
            self._idempotency()
            self._references()
            self._closed_periods()
        with self._stage("accounts"):
            legs = self._accounts()
        with self._stage("targets"):
            db_targets, target_legs = self._existing_targets()
        with self._stage("balance_locks"):
            state = self._lock(legs, target_legs)

        moves = reversals = None
        with self._stage("decide"):
            while True:
                before = self.refused.height
                moves, reversals = self._resolve_lifecycle(db_targets)
                self._guards(legs, state, moves, reversals, target_legs)
                if self.refused.height == before:
                    break
        with self._stage("write"):
            return self._write(legs, moves, reversals)

    # -- 1. idempotency ------------------------------------------------------------------------
    def _idempotency(self) -> None:
        p = self.plan
        no_reference = pl.lit(None, pl.Utf8).alias("reference")
        keys = pl.concat([
            # a creating posting's business reference rides along for _references (one COPY for both)
            p.postings.select("seq", pl.col("idempotency_key").alias("key"), "content_hash",
                              pl.when(pl.col("phase") == 0).then(pl.col("reference")).alias("reference")),
            p.transitions.select("seq", pl.col("event_id").alias("key"), "content_hash", no_reference),
            p.reversals.select("seq", pl.col("idempotency_key").alias("key"), "content_hash", no_reference),
        ])
        # The same key on two different events of one plan: the first stands.
        first = keys.sort("seq").unique("key", keep="first").select("key", pl.col("seq").alias("first_seq"), pl.col("content_hash").alias("first_hash"))
        repeated = keys.join(first, on="key").filter(pl.col("seq") != pl.col("first_seq"))
        self.refuse(_refusals(
            repeated.filter(pl.col("content_hash") != pl.col("first_hash")), "event_id_conflict",
            pl.format("key {} is used by an earlier event of this batch with different content; the first one stands", pl.col("key")),
        ))
        self.duplicates = pl.concat([
            self.duplicates,
            repeated.filter(pl.col("content_hash") == pl.col("first_hash")).select("seq", pl.lit(None, pl.Utf8).alias("transaction_id")),
        ]).unique("seq")

        copy_frame(self.conn, "bulk_keys", keys, ["seq", "key", "content_hash", "reference"])
        found = self._query_frame(
            read_sql("ledger/bulk/existing_keys.sql"),
            {"seq": pl.Int64, "key": pl.Utf8, "stored_hash": pl.Utf8, "transaction_id": pl.Utf8},
        )
        if found.is_empty():
            return
        found = found.join(keys.select("seq", "key", "content_hash"), on=["seq", "key"], how="left")
        per_event = found.group_by("seq").agg(
            same=(pl.col("stored_hash") == pl.col("content_hash")).all(),
            transaction_id=pl.col("transaction_id").first(),
            key=pl.col("key").first(),
        )
        self.refuse(_refusals(
            per_event.filter(~pl.col("same")), "event_id_conflict",
            pl.format("event id {} was already used by ledger transaction {} with different content; the first one stands. "
                      "Send the change as a new event (e.g. a reversal and a new posting).", pl.col("key"), pl.col("transaction_id")),
        ))
        self.duplicates = pl.concat([self.duplicates, per_event.filter(pl.col("same")).select("seq", "transaction_id")]).unique("seq")

    # -- 1b. business references ---------------------------------------------------------------
    def _references(self) -> None:
        """A business reference names one thing for the life of the ledger (contract ruling, December 2026).

        A creating posting (phase 0 with a ``reference``, e.g. ``invoice:<id>``) whose reference an
        earlier event of the batch or a stored transaction of another event holds is refused as
        ``reference_conflict``; the first stands. Duplicates and id conflicts were settled before,
        so the same event sent again is never a reference conflict. One query for the batch.
        """
        creating = (self.alive(self.plan.postings).filter((pl.col("phase") == 0) & pl.col("reference").is_not_null())
                    .select("seq", "reference", pl.col("idempotency_key").alias("key")).sort("seq"))
        if creating.is_empty():
            return
        first = creating.unique("reference", keep="first", maintain_order=True)
        later = creating.join(first.select("reference", pl.col("seq").alias("first_seq"), pl.col("key").alias("first_key")),
                              on="reference").filter(pl.col("seq") != pl.col("first_seq"))
        self.refuse(_refusals(
            later, "reference_conflict",
            pl.format("{} was already created by event {} earlier in this batch; a reference names one thing for the life "
                      "of the ledger and the first one stands. Give the new one its own id.", pl.col("reference"),
                      pl.col("first_key")),
        ))
        stored = self._query_frame(read_sql("ledger/bulk/reference_conflicts.sql"),  # probes bulk_keys (see _idempotency)
                                   {"seq": pl.Int64, "reference": pl.Utf8, "transaction_id": pl.Utf8, "key": pl.Utf8})
        self.refuse(_refusals(
            stored.join(first.select("seq"), on="seq", how="semi").sort("seq"), "reference_conflict",
            pl.format("{} already names ledger transaction {} (event {}); a reference names one thing for the life of the "
                      "ledger and the first one stands. Give the new one its own id, or send a reversal or correction "
                      "that names the existing one.", pl.col("reference"), pl.col("transaction_id"), pl.col("key")),
        ))

    # -- 2. closed periods ---------------------------------------------------------------------
    def _closed_periods(self) -> None:
        """Refuse what takes effect in a closed period (``period_closed``).

        Only events still alive are looked at: an event already known to be a duplicate (the same
        id and content, redelivered after its period was closed) stays ``duplicate`` (contract
        ruling, December 2026).
        """
        closed = self._query_frame(
            read_sql("ledger/bulk/closed_periods.sql"),
            {"period": pl.Utf8, "starts_at": pl.Datetime("us", "UTC"), "ends_at": pl.Datetime("us", "UTC")},
        )
        if closed.is_empty():
            return
        p = self.plan
        dated = self.alive(pl.concat([
            p.postings.select("seq", pl.col("effective_at").alias("at")),
            p.transitions.select("seq", "at"),
            p.reversals.select("seq", pl.col("effective_at").alias("at")),
        ]))
        hits = dated.join_where(closed, pl.col("at") >= pl.col("starts_at"), pl.col("at") < pl.col("ends_at"))
        self.refuse(_refusals(
            hits.sort("seq"), "period_closed",
            pl.format("it takes effect at {}, inside the closed period {}. Date it in an open period, or ask finance to "
                      "reopen the period and replay it.", pl.col("at").dt.to_string("%Y-%m-%dT%H:%M:%S%z"), pl.col("period")),
        ))

    # -- 3. accounts ---------------------------------------------------------------------------
    def _accounts(self) -> pl.DataFrame:
        """The legs still alive, with ``account_id`` and ``normal_balance``; bad accounts refused.

        Every check runs on the distinct codes of the batch (20k for 400k legs in the bench), and
        the verdicts are joined back to the legs: the code rule, the id hash and the normal
        balance cost per account, not per leg.
        """
        legs = self.plan.legs.join(
            self.plan.postings.select("seq", "idempotency_key", "status", "effective_at", "phase"),
            on=["seq", "idempotency_key"], how="left",
        )
        codes = legs.select("account").unique()
        codes = codes.with_columns(problem=account_code_expr_problem(pl.col("account"), self.account_types))
        bad_codes = codes.filter(pl.col("problem").is_not_null()).select("account")
        self.refuse(_refusals(
            legs.join(bad_codes, on="account", how="semi").sort("seq"), "invalid_account",
            pl.format("account {} is not a valid code path under a known account type ({}); name it like "
                      "'assets:receivables:sub_42'", pl.col("account"), pl.lit(", ".join(sorted(self.account_types)))),
        ))
        legs = self.alive(legs)
        codes = legs.select("account").unique()
        codes = codes.with_columns(
            account_id=account_id_column(codes["account"]),
            normal_balance=normal_balance_expr(pl.col("account"), self.account_types),
        )
        legs = legs.join(codes, on="account", how="left")
        self.conn.execute(
            read_sql("ledger/ensure_accounts.sql"),
            {"ids": codes["account_id"].to_list(), "codes": codes["account"].to_list(), "normal": codes["normal_balance"].to_list()},
        )
        restricted = self._query_frame(
            read_sql("ledger/bulk/restricted_accounts.sql"), {"account_id": pl.Utf8, "code": pl.Utf8, "only": pl.Utf8},
            {"ids": codes["account_id"].to_list()},
        )
        if restricted.height:
            wrong = legs.join(restricted, on="account_id").filter(pl.col("currency") != pl.col("only"))
            self.refuse(_refusals(
                wrong.sort("seq"), "invalid_account",
                pl.format("account {} holds only {}, not {}; post {} amounts to another account", pl.col("account"),
                          pl.col("only"), pl.col("currency"), pl.col("currency")),
            ))
        return legs

    # -- 4. targets that already exist ---------------------------------------------------------
    def _existing_targets(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        p = self.plan
        names = pl.concat([
            p.transitions.select(pl.lit("key").alias("kind"), pl.col("target_key").alias("name")),
            p.transitions.select(pl.lit("reference").alias("kind"), pl.col("target_reference").alias("name")),
            p.reversals.select(pl.lit("key").alias("kind"), pl.col("target_key").alias("name")),
            p.reversals.select(pl.lit("reference").alias("kind"), pl.col("target_reference").alias("name")),
        ]).drop_nulls().unique()
        targets_schema = {"kind": pl.Utf8, "name": pl.Utf8, "transaction_id": pl.Utf8, "status": pl.Utf8,
                          "effective_at": UTC_TIME, "reversed": pl.Boolean}
        if names.is_empty():
            return pl.DataFrame(schema=targets_schema), pl.DataFrame(schema=_TARGET_LEGS)
        copy_frame(self.conn, "bulk_target_names", names, ["kind", "name"])
        targets = self._query_frame(read_sql("ledger/bulk/resolve_targets.sql"), targets_schema)
        target_legs = self._query_frame(
            read_sql("ledger/bulk/target_pairs.sql"), _TARGET_LEGS, {"ids": targets["transaction_id"].unique().to_list()}
        )
        return targets, target_legs

    # -- 5. lock -------------------------------------------------------------------------------
    def _lock(self, legs: pl.DataFrame, target_legs: pl.DataFrame) -> pl.DataFrame:
        pairs = pl.concat([legs.select("account_id", "currency"), target_legs.select("account_id", "currency")]).unique().sort(
            "account_id", "currency"
        )
        state_schema = {
            "account_id": pl.Utf8, "currency": pl.Utf8, "lock_version": pl.Int64, "posted_debits": pl.Int64,
            "posted_credits": pl.Int64, "pending_debits": pl.Int64, "pending_credits": pl.Int64, "version": pl.Int64,
        }
        if pairs.is_empty():
            return pl.DataFrame(schema=state_schema)
        state = self._query_frame(
            read_sql("ledger/lock_balances.sql"), state_schema,
            {"account_ids": pairs["account_id"].to_list(), "currencies": pairs["currency"].to_list()},
        )
        normals = legs.select("account_id", "normal_balance").unique("account_id")
        return state.join(normals, on="account_id", how="left")

    # -- 6. conditions, lock versions, overflow ------------------------------------------------
    def _guards(
        self, legs: pl.DataFrame, state: pl.DataFrame, moves: pl.DataFrame, reversals: pl.DataFrame, target_legs: pl.DataFrame
    ) -> None:
        """Replay the batch in file order and refuse what fails a condition, a lock version or the 64-bit range.

        The replay order is the file's: ``seq``, with the corrections (phase 1: a reversal and
        its replacement, in that order) after the rest. Lifecycle moves and reversals take part
        as the signed legs they add to the cached sums (:meth:`_lifecycle_effects`), so a
        condition sees the balance a reversal or an archive earlier in the file has left.
        """
        candidates = self.alive(legs)
        if candidates.is_empty():
            return
        postings = candidates.select(
            _replay_order(pl.col("phase"), 1).alias("order"), "seq", "account", "account_id", "currency", "direction",
            "amount", "status", "lock_version", "conditions", pl.lit(1, pl.Int64).alias("bumps"),
        )
        effects = self._lifecycle_effects(candidates, self.alive(moves), self.alive(reversals), target_legs)
        refusals = evaluate_guards(pl.concat([postings, effects], how="diagonal_relaxed"), state.drop_nulls("normal_balance"))
        if refusals:
            self.refuse(pl.DataFrame(
                {"seq": [r.seq for r in refusals], "reason_code": [r.reason_code for r in refusals],
                 "message": [r.message for r in refusals]},
                schema={"seq": pl.Int64, "reason_code": pl.Utf8, "message": pl.Utf8},
            ))

    @staticmethod
    def _lifecycle_effects(
        legs: pl.DataFrame, moves: pl.DataFrame, reversals: pl.DataFrame, target_legs: pl.DataFrame
    ) -> pl.DataFrame:
        """The moves and reversals of the batch as signed legs, each at its event's place in the replay.

        A move to posted takes each leg of its target out of the pending sums and into the posted
        ones; a move to archived only takes it out of the pending sums; a reversal posts each
        leg of its target in the other direction. Each entry a move carries or a reversal posts
        adds one to its account's lock version (``bumps``).
        """
        in_batch = legs.select(
            pl.col("seq").alias("target_seq"), pl.col("phase").alias("target_phase"), "account", "account_id",
            "currency", "direction", "amount",
        )
        stored = target_legs.select(
            pl.col("transaction_id").alias("db_id"), pl.col("account_id").alias("account"), "account_id", "currency",
            "direction", "amount",
        )

        def legs_of(events: pl.DataFrame) -> pl.DataFrame:
            """The target legs of each event (``target_seq``/``target_phase`` in the batch, or ``db_id``)."""
            return pl.concat([
                events.drop("db_id").join(in_batch, on=["target_seq", "target_phase"], how="inner"),
                events.drop("target_seq", "target_phase").join(stored, on="db_id", how="inner"),
            ], how="diagonal_relaxed")

        parts = []
        if moves.height:
            moved = legs_of(moves.select(
                "seq", "to_status",
                # a reference named by a posting of this batch and a stored one means the batch's (see _write)
                pl.col("target_seq").cast(pl.Int64), pl.lit(0, pl.Int8).alias("target_phase"),
                pl.when(pl.col("target_seq").is_null()).then(pl.col("db_id")).alias("db_id"), pl.lit(0, pl.Int8).alias("phase"),
            ))
            out_of_pending = moved.with_columns(status=pl.lit("pending"), amount=-pl.col("amount"), bumps=pl.lit(1, pl.Int64))
            into_posted = moved.filter(pl.col("to_status") == "posted").with_columns(
                status=pl.lit("posted"), bumps=pl.lit(0, pl.Int64)
            )
            parts += [out_of_pending, into_posted]
        if reversals.height:
            corrections = legs.filter(pl.col("phase") == 1).select("seq").unique()
            is_correction = pl.col("seq").is_in(corrections["seq"].implode())
            reversed_legs = legs_of(reversals.select(
                "seq",
                pl.when(pl.col("rank") > 0).then(pl.col("previous_seq")).otherwise(pl.col("target_seq")).cast(pl.Int64)
                .alias("target_seq"),
                pl.when(pl.col("rank") > 0).then(pl.lit(1)).otherwise(pl.lit(0)).cast(pl.Int8).alias("target_phase"),
                # the write reverses the batch's own posting when a reference names both (see _copy_reversals)
                pl.when((pl.col("rank") > 0) | pl.col("target_seq").is_not_null()).then(None)
                .otherwise(pl.col("db_id")).alias("db_id"),
                pl.when(is_correction).then(pl.lit(1)).otherwise(pl.lit(0)).cast(pl.Int8).alias("phase"),
            ))
            parts.append(reversed_legs.with_columns(
                status=pl.lit("posted"), bumps=pl.lit(1, pl.Int64),
                direction=pl.when(pl.col("direction") == "debit").then(pl.lit("credit")).otherwise(pl.lit("debit")),
            ))
        schema = {"order": pl.Int64, "seq": pl.Int64, "account": pl.Utf8, "account_id": pl.Utf8, "currency": pl.Utf8,
                  "direction": pl.Utf8, "amount": pl.Int64, "status": pl.Utf8, "bumps": pl.Int64}
        if not parts:
            return pl.DataFrame(schema=schema)
        # A reversal in phase 1 comes just before the replacement of the same event (offset 0 < 1).
        return pl.concat(parts, how="diagonal_relaxed").select(
            _replay_order(pl.col("phase"), 0).alias("order"), "seq", "account", "account_id", "currency", "direction",
            "amount", "status", "bumps",
        ).cast(schema)

    # -- 7. lifecycle moves and reversals ------------------------------------------------------
    def _resolve_lifecycle(self, db_targets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        postings = self.alive(self.plan.postings)
        phase0 = postings.filter(pl.col("phase") == 0)
        in_batch_by_key = phase0.select(
            pl.col("idempotency_key").alias("name"), pl.lit("key").alias("kind"), pl.col("status").alias("batch_status"),
            pl.col("seq").alias("target_seq"), pl.col("effective_at").alias("batch_effective_at"),
        )
        in_batch_by_ref = (
            phase0.drop_nulls("reference").sort("seq").unique("reference", keep="last")
            .select(pl.col("reference").alias("name"), pl.lit("reference").alias("kind"),
                    pl.col("status").alias("batch_status"), pl.col("seq").alias("target_seq"),
                    pl.col("effective_at").alias("batch_effective_at"))
        )
        in_batch = pl.concat([in_batch_by_key, in_batch_by_ref])
        moves = self._resolve_moves(in_batch, db_targets)
        reversals = self._resolve_reversals(in_batch, db_targets, moves, postings)
        return moves, reversals

    def _target_columns(self, frame: pl.DataFrame, in_batch: pl.DataFrame, db_targets: pl.DataFrame) -> pl.DataFrame:
        named = frame.with_columns(
            kind=pl.when(pl.col("target_key").is_not_null()).then(pl.lit("key")).otherwise(pl.lit("reference")),
            name=pl.coalesce("target_key", "target_reference"),
        )
        return (
            named.join(in_batch, on=["kind", "name"], how="left")
            .join(db_targets.rename({"transaction_id": "db_id", "status": "db_status", "effective_at": "db_effective_at",
                                     "reversed": "db_reversed"}),
                  on=["kind", "name"], how="left")
        )

    def _resolve_moves(self, in_batch: pl.DataFrame, db_targets: pl.DataFrame) -> pl.DataFrame:
        moves = self._target_columns(self.alive(self.plan.transitions), in_batch, db_targets)
        unknown = moves.filter(pl.col("target_seq").is_null() & pl.col("db_id").is_null())
        self.refuse(_refusals(
            unknown, "unknown_target",
            pl.format("no current transaction matches {} {}: it was never posted, was quarantined, or was reversed "
                      "(a reversed transaction no longer moves). Post (or replay) the original first, then replay this "
                      "event.", pl.col("kind"), pl.col("name")),
        ))
        moves = moves.join(unknown.select("seq"), on="seq", how="anti").with_columns(
            current=pl.coalesce("batch_status", "db_status"),
            target=pl.coalesce(pl.col("target_seq").cast(pl.Utf8), pl.col("db_id")),
        )
        not_pending = moves.filter(pl.col("current") != "pending")
        self.refuse(_refusals(
            not_pending, "invalid_transition",
            pl.format("the target ({} {}) is {}; only a pending transaction can move to {}", pl.col("kind"),
                      pl.col("name"), pl.col("current"), pl.col("to_status")),
        ))
        moves = moves.join(not_pending.select("seq"), on="seq", how="anti")
        # A move is never dated before the transaction's own effective time (I4; the lifecycle
        # trigger refuses it too, LDG04): a settlement before its payment began is a producer's error.
        early = moves.filter(pl.col("at") < pl.coalesce("batch_effective_at", "db_effective_at"))
        self.refuse(_refusals(
            early, "invalid_transition",
            pl.format("this event's effective_at ({}) is before the effective_at of its target ({} {}, {}); a "
                      "transaction cannot be {} before it happened. Correct the event's time and replay it.",
                      pl.col("at").dt.to_string("%Y-%m-%dT%H:%M:%S%.f%z"), pl.col("kind"), pl.col("name"),
                      pl.coalesce("batch_effective_at", "db_effective_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.f%z"),
                      pl.col("to_status")),
        ))
        moves = moves.join(early.select("seq"), on="seq", how="anti").sort("seq")
        later = moves.filter(pl.int_range(pl.len()).over("target") > 0)
        self.refuse(_refusals(
            later, "invalid_transition",
            pl.format("an earlier event of this batch already moves {} {}; a pending transaction moves once",
                      pl.col("kind"), pl.col("name")),
        ))
        return moves.join(later.select("seq"), on="seq", how="anti")

    def _resolve_reversals(self, in_batch, db_targets, moves, postings) -> pl.DataFrame:
        """Reversals whose target is posted when they run; the rest are refused.

        Several reversals of one target in a batch: by key, the first stands; by reference (a
        chain of corrections), the k-th reverses the replacement the (k-1)-th posted.
        """
        resolved = (
            self._target_columns(self.alive(self.plan.reversals), in_batch, db_targets)
            .sort("seq")
            .with_columns(
                rank=pl.int_range(pl.len()).over("kind", "name"),
                previous_seq=pl.col("seq").shift(1).over("kind", "name"),
            )
        )
        replacements = postings.filter(pl.col("phase") == 1).select(
            pl.col("seq").alias("previous_seq"), pl.col("reference").alias("name"), pl.lit(True).alias("has_replacement")
        )
        resolved = resolved.join(replacements, on=["previous_seq", "name"], how="left")
        target = pl.coalesce(pl.col("target_seq").cast(pl.Utf8), pl.col("db_id"))
        posted_now = moves.filter(pl.col("to_status") == "posted")["target"].implode()
        archived_now = moves.filter(pl.col("to_status") == "archived")["target"].implode()
        # A reversal written by this same batch is not a target yet (its legs are written in the same
        # statement as the reversals that would flip them back): refused with what to do instead.
        batch_reversal_keys = self.alive(self.plan.reversals)["idempotency_key"].implode()
        resolved = resolved.with_columns(
            state=pl.when(target.is_null() & (pl.col("kind") == "key") & pl.col("name").is_in(batch_reversal_keys))
            .then(pl.lit("reversal_in_batch"))
            .when((pl.col("rank") > 0) & pl.col("has_replacement").fill_null(False)).then(pl.lit("posted"))
            .when((pl.col("rank") > 0) & (pl.col("kind") == "key")).then(pl.lit("reversed"))
            .when(pl.col("rank") > 0).then(pl.lit("unknown"))
            .when(target.is_null()).then(pl.lit("unknown"))
            .when(pl.col("db_reversed").fill_null(False)).then(pl.lit("reversed"))
            .when(target.is_in(posted_now)).then(pl.lit("posted"))
            .when(target.is_in(archived_now)).then(pl.lit("archived"))
            .otherwise(pl.coalesce("batch_status", "db_status"))
        )
        self.refuse(_refusals(
            resolved.filter(pl.col("state") == "reversal_in_batch"), "invalid_transition",
            pl.format("the target (key {}) is a reversal posted by this same file; a reversal can be reversed once it "
                      "is in the ledger: send this event in a later file (or `subledger replay` it after this file)",
                      pl.col("name")),
        ))
        self.refuse(_refusals(
            resolved.filter(pl.col("state") == "unknown"), "unknown_target",
            pl.format("no current transaction matches {} {} (never posted, quarantined, or already reversed); post or "
                      "replay the original first", pl.col("kind"), pl.col("name")),
        ))
        self.refuse(_refusals(
            resolved.filter(pl.col("state") == "reversed"), "invalid_transition",
            pl.format("the target ({} {}) is already reversed; a transaction is reversed at most once",
                      pl.col("kind"), pl.col("name")),
        ))
        self.refuse(_refusals(
            resolved.filter(~pl.col("state").is_in(["posted", "unknown", "reversed", "reversal_in_batch"])), "invalid_transition",
            pl.format("the target ({} {}) is {}; only a posted transaction can be reversed (archive a pending one)",
                      pl.col("kind"), pl.col("name"), pl.col("state")),
        ))
        return resolved.filter(pl.col("state") == "posted")

    # -- 8. write ------------------------------------------------------------------------------
    def _write(self, legs: pl.DataFrame, moves: pl.DataFrame, reversals: pl.DataFrame) -> PlanResult:
        # Events are all-or-nothing: anything refused drops every row of its seq.
        postings = self.alive(self.plan.postings)
        legs = self.alive(legs)
        moves = self.alive(moves)
        reversals = self.alive(reversals)
        # Rows in key order with ids increasing in that order: the primary-key and idempotency-key
        # indexes then take the batch as an append, not as random inserts all over the tree. Phase
        # by phase, so the entries statements of the two phases cover disjoint id ranges, which lets
        # the commit check trust their tallies (ledger.check_at_commit).
        postings = postings.sort("phase", "idempotency_key").with_columns(transaction_id=_ascending_ids(postings.height))
        phase0_ids = postings.filter(pl.col("phase") == 0).select("seq", "transaction_id")
        phase1_ids = postings.filter(pl.col("phase") == 1).select("seq", "transaction_id")

        created = self._copy_postings(postings.filter(pl.col("phase") == 0), legs)

        moved_ids: list[str] = []
        if moves.height:
            with self._stage("write.moves"):
                # A reference named by a posting of this batch and by a stored transaction means the
                # batch's (the latest created is the current one), as in _resolve_moves.
                moves = moves.join(phase0_ids, left_on="target_seq", right_on="seq", how="left", suffix="_in_batch").with_columns(
                    transaction_id=pl.coalesce("transaction_id", "db_id")
                )
                copy_frame(
                    self.conn, "bulk_moves",
                    moves.select("transaction_id", "to_status", "at", pl.col("event_id").alias("transition_key"),
                                 pl.col("content_hash").alias("transition_hash")),
                    ["transaction_id", "to_status", "at", "transition_key", "transition_hash"],
                )
                moved_ids = [r[0] for r in self.conn.execute(read_sql("ledger/bulk/apply_moves.sql")).fetchall()]
                missed = moves.filter(~pl.col("transaction_id").is_in(moved_ids))
                self.refuse(_refusals(
                    missed, "invalid_transition", "the target was moved by another writer while this batch ran; it is no longer pending"
                ))

        # Reversals and the replacements that follow them, in rounds: the k-th correction of a
        # reference reverses what the (k-1)-th posted, so that must exist first.
        replacements = postings.filter(pl.col("phase") == 1)
        written_reversals = []
        max_rank = int(reversals["rank"].max()) if reversals.height else -1
        for rank in range(max_rank + 1):
            with self._stage("write.reversals"):
                round_reversals = self._copy_reversals(reversals.filter(pl.col("rank") == rank), phase0_ids, phase1_ids)
            written_reversals.append(round_reversals)
            created += round_reversals.height
            created += self._copy_postings(replacements.join(round_reversals.select("seq"), on="seq", how="semi"), legs)
        reversals = pl.concat(written_reversals) if written_reversals else reversals
        created += self._copy_postings(replacements.join(reversals.select("seq"), on="seq", how="anti"), legs)
        with self._stage("write.audit"):
            self._audit_corrections(replacements, reversals)

        return PlanResult(
            outcomes=self._outcomes(postings, moves, reversals),
            transactions_created=created,
            entries_created=self._entries_created,
            moves_applied=len(moved_ids),
            timings=self.timings,
        )

    def _copy_postings(self, postings: pl.DataFrame, legs: pl.DataFrame) -> int:
        if postings.is_empty():
            return 0
        rows = postings.with_columns(
            posted_at=pl.when(pl.col("status") == "posted").then(pl.col("effective_at")),
            batch_id=pl.lit(self.batch_id),
            source_event_id=pl.col("event_id"),
            source_event_type=pl.col("event_type"),
        )
        with self._stage("write.copy_transactions"):
            copy_binary(self.conn, "ledger.transactions", rows, TRANSACTION_COLUMN_TYPES)
        entries = legs.join(rows.select("seq", "idempotency_key", "transaction_id"), on=["seq", "idempotency_key"], how="inner").select(
            "transaction_id", pl.col("leg_no").alias("entry_no"), "account_id", "direction", "amount", "currency",
            "effective_at",
        # In the order of the account index (account, currency, time): its pages fill one after the
        # other instead of at random all over the history (fewer pages written, fewer full-page
        # images: bench/floor_bench.py); the primary key's random inserts stay within this batch's ids.
        ).sort("account_id", "currency", "effective_at")
        with self._stage("write.copy_entries"):
            self._entries_created += copy_binary(self.conn, "ledger.entries", entries, ENTRY_COLUMN_TYPES)
        return rows.height

    def _copy_reversals(self, reversals: pl.DataFrame, phase0_ids: pl.DataFrame, phase1_ids: pl.DataFrame) -> pl.DataFrame:
        """Insert the reversing transactions and their flipped entries (set-based, in SQL)."""
        rows = (
            reversals
            .join(phase0_ids.rename({"seq": "target_seq", "transaction_id": "target_in_batch"}), on="target_seq", how="left")
            .join(phase1_ids.rename({"seq": "previous_seq", "transaction_id": "replaced_in_batch"}), on="previous_seq", how="left")
            .with_columns(
                transaction_id=_ascending_ids(reversals.height),
                target_id=pl.when(pl.col("rank") > 0).then(pl.col("replaced_in_batch"))
                .otherwise(pl.coalesce("target_in_batch", "db_id")),
                description=pl.format("Reversal of {}{}", pl.col("name"),
                                      pl.when(pl.col("reason").is_not_null()).then(pl.lit(": ") + pl.col("reason")).otherwise(pl.lit(""))),
                batch_id=pl.lit(self.batch_id),
                source_event_id=pl.col("event_id"),
                source_event_type=pl.col("event_type"),
            )
        )
        columns = ["transaction_id", "idempotency_key", "effective_at", "target_id", "description", "metadata",
                   "source_event_id", "source_event_type", "content_hash", "batch_id"]
        if rows.is_empty():
            return rows
        self.conn.execute("TRUNCATE bulk_reversals")
        copy_frame(self.conn, "bulk_reversals", rows, columns)
        self.conn.execute(read_sql("ledger/bulk/insert_reversals.sql"))
        self._entries_created += self.conn.execute(read_sql("ledger/bulk/insert_reversal_entries.sql")).rowcount
        return rows

    def _audit_corrections(self, replacements: pl.DataFrame, reversals: pl.DataFrame) -> None:
        """Corrections (reversals by reference) link the reversal and the replacement in the audit log."""
        corrections = reversals.filter(pl.col("kind") == "reference")
        if corrections.is_empty():
            return
        pairs = corrections.join(
            replacements.select("seq", pl.col("transaction_id").alias("replacement_transaction_id")), on="seq", how="left"
        )
        self.conn.execute(read_sql("ledger/bulk/insert_audit.sql"), {
            "reversals": pairs["transaction_id"].to_list(), "replacements": pairs["replacement_transaction_id"].to_list()})

    # -- 9. outcomes ---------------------------------------------------------------------------
    def _outcomes(self, postings: pl.DataFrame, moves: pl.DataFrame, reversals: pl.DataFrame) -> pl.DataFrame:
        p = self.plan
        every_seq = pl.concat([p.postings.select("seq", "event_id"), p.transitions.select("seq", "event_id"),
                               p.reversals.select("seq", "event_id")]).unique("seq", keep="first")
        written = pl.concat([
            postings.filter(pl.col("phase") == 0).select("seq", pl.col("status").alias("outcome"), "transaction_id"),
            moves.select("seq", pl.lit("posted").alias("outcome"), pl.col("transaction_id")) if moves.height else
            pl.DataFrame(schema={"seq": pl.Int64, "outcome": pl.Utf8, "transaction_id": pl.Utf8}),
            postings.filter(pl.col("phase") == 1).select("seq", pl.col("status").alias("outcome"), "transaction_id"),
            reversals.select("seq", pl.lit("posted").alias("outcome"), "transaction_id") if reversals.height else
            pl.DataFrame(schema={"seq": pl.Int64, "outcome": pl.Utf8, "transaction_id": pl.Utf8}),
        ]).unique("seq", keep="first")
        outcomes = (
            every_seq.join(written, on="seq", how="left")
            .join(self.duplicates.rename({"transaction_id": "duplicate_of"}), on="seq", how="left")
            .join(self.refused, on="seq", how="left")
            .with_columns(
                outcome=pl.when(pl.col("reason_code").is_not_null()).then(pl.lit("quarantined"))
                .when(pl.col("seq").is_in(self.duplicates["seq"].implode())).then(pl.lit("duplicate"))
                .otherwise(pl.col("outcome")),
                transaction_id=pl.when(pl.col("reason_code").is_not_null()).then(None)
                .otherwise(pl.coalesce("transaction_id", "duplicate_of")),
            )
        )
        missing = outcomes.filter(pl.col("outcome").is_null())
        if missing.height:
            raise AssertionError(f"events without an outcome: {missing['seq'].to_list()[:10]}")
        return outcomes.select(list(OUTCOMES_SCHEMA)).cast(OUTCOMES_SCHEMA).sort("seq")

    # -- helpers -------------------------------------------------------------------------------
    def _query_frame(self, query: str, schema: dict, params: dict | None = None) -> pl.DataFrame:
        rows = self.conn.execute(query, params).fetchall()
        return pl.DataFrame(rows, schema=schema, orient="row")


def _replay_order(phase: pl.Expr, offset: int) -> pl.Expr:
    """Where an event's rows sit in the guard replay: phase first, then seq; ``offset`` 0 runs before 1."""
    return (phase.cast(pl.Int64) * (1 << 41)) + pl.col("seq") * 2 + offset


def _ascending_ids(n: int) -> pl.Series:
    """``n`` UUIDv7 transaction ids in ascending order (the same values, sorted: as random, time-ordered)."""
    return uuid7_column(n).sort()


_TARGET_LEGS = {"transaction_id": pl.Utf8, "account_id": pl.Utf8, "currency": pl.Utf8, "direction": pl.Utf8, "amount": pl.Int64}
