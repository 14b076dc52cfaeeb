"""What one bulk run knows as its stages go: the plan, the refusals and duplicates so far, timings.

Every stage of :mod:`ledger_pipelines.ledger.bulk` reads and extends one :class:`Batch`: a stage
refuses events (:meth:`Batch.refuse`, the first reason of an event stands) or marks them
duplicates, and later stages look only at the events still :meth:`~Batch.alive`. An event is
all-or-nothing, so every row of a refused event drops out of everything after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl
import psycopg

from ledger_pipelines.ledger.plan import PostingPlan

REFUSALS_SCHEMA = {"seq": pl.Int64, "reason_code": pl.Utf8, "message": pl.Utf8}


class Batch:
    """One :func:`~ledger_pipelines.ledger.bulk.apply_plan` run inside the caller's open database transaction."""

    def __init__(self, conn: psycopg.Connection, plan: PostingPlan, batch_id: str, account_types: dict[str, str]):
        self.conn = conn
        self.plan = plan
        self.batch_id = batch_id
        self.account_types = account_types
        self.refused = pl.DataFrame(schema=REFUSALS_SCHEMA)
        self.duplicates = pl.DataFrame(schema={"seq": pl.Int64, "transaction_id": pl.Utf8})
        self.entries_created = 0
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the wall time of the block to ``timings[name]`` (where a batch spends its time)."""
        clock = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - clock

    def refuse(self, refusals: pl.DataFrame) -> None:
        """Record refusals (``seq, reason_code, message``); an event keeps its first reason."""
        if refusals.height:
            self.refused = pl.concat([self.refused, refusals]).unique("seq", keep="first", maintain_order=True)

    def alive(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows of ``frame`` whose event is neither refused nor a duplicate."""
        gone = pl.concat([self.refused.select("seq"), self.duplicates.select("seq")])
        return frame.join(gone, on="seq", how="anti") if gone.height else frame

    def query_frame(self, query: str, schema: dict, params: dict | None = None) -> pl.DataFrame:
        """The rows of ``query`` as a frame of ``schema``."""
        rows = self.conn.execute(query, params).fetchall()
        return pl.DataFrame(rows, schema=schema, orient="row")


def refusals(frame: pl.DataFrame, reason_code: str, message: pl.Expr | str) -> pl.DataFrame:
    """One refusal per ``seq`` of ``frame`` with ``reason_code`` and ``message`` (text or an expression over ``frame``)."""
    msg = pl.lit(message) if isinstance(message, str) else message
    return frame.select(
        pl.col("seq"), pl.lit(reason_code).alias("reason_code"), msg.cast(pl.Utf8).alias("message")
    ).unique("seq", keep="first")
