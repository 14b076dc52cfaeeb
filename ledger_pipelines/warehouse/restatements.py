"""Restatements: what a recomputation changed in days that had already been reported, and why.

A snapshot table records the mirror watermark it was built from (:mod:`.freshness`). When the
mirror moves on, :func:`first_changed_day` finds the earliest day on which anything that changed
in the ledger since that watermark changes a balance: a transaction created after it (from its
effective day) or moved after it (from the day of the move). Balances are cumulative, so every
later row of the touched accounts (and of their categories) may change too; the snapshot
computation recomputes from that day on and, before replacing the rows, :func:`record` writes per
account/category, currency and day whose balance in force changed the old and new
``posted/pending/available`` into ``analytics.restatements``, with the batches that caused it.

"Caused by": every batch that created a transaction (or moved one) after the watermark the old
rows were computed from, touching the account (or a member of the category) on or before that
day. A restated row is recorded once, with all its causes in ``batch_ids`` and the batch whose
change took effect first in ``batch_id`` (so summing the table never counts a row twice).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb

from ledger_pipelines.paths import read_sql
from ledger_pipelines.warehouse import duck
from ledger_pipelines.warehouse.watermark import Watermark

SCOPES = {
    "account": {
        "table": "analytics.account_balance_snapshots", "key": "account", "new_rows": "new_account_rows",
        "cause_key": "c.account", "cause_join": "",
    },
    "category": {
        "table": "analytics.category_balance_snapshots", "key": "category", "new_rows": "new_category_rows",
        "cause_key": "ac.category", "cause_join": "JOIN analytics.account_categories ac ON ac.account = c.account",
    },
}


def _causes(conn: duckdb.DuckDBPyConnection, since: Watermark, *, start: date) -> None:
    """Build temp table ``restatement_causes``: per batch, account and currency, the first day changed after
    ``since`` (days of the mirror's reporting time zone)."""
    duck.run_file(conn, "warehouse/restatements/causes.sql", {
        "start": start, "xmin": since.xmin, "xmax": since.xmax, "xip": list(since.xip),
    })


def first_changed_day(conn: duckdb.DuckDBPyConnection, since: Watermark, *, start: date) -> date | None:
    """The earliest day (folded into ``start``) on which a change made after ``since`` moves a balance; None: none."""
    _causes(conn, since, start=start)
    return duck.scalar(conn, "SELECT min(first_day) FROM restatement_causes")


def record(
    conn: duckdb.DuckDBPyConnection,
    scope: str,
    d1: date,
    d2: date,
    *,
    since: Watermark,
    start: date,
    run_id: str,
) -> int:
    """Record the restatements of recomputing days ``d1..d2`` of ``scope`` (rows built from ``since``).

    ``d2`` is the last day the old rows covered (later days were never reported, so they are not
    restated). Needs the scope's new rows in their temp table (``new_account_rows`` /
    ``new_category_rows``) and runs before the stored rows are replaced. Returns rows recorded.
    """
    if d2 < d1:
        return 0
    spec = SCOPES[scope]
    duck.run(conn, read_sql("warehouse/restatements/diff.sql").format(**spec), {"d1": d1, "d2": d2})
    if not duck.scalar(conn, "SELECT count(*) FROM restated_rows"):
        return 0
    _causes(conn, since, start=start)
    before = int(duck.scalar(conn, "SELECT count(*) FROM analytics.restatements"))
    duck.run(conn, read_sql("warehouse/restatements/record.sql").format(**spec),
             {"scope": scope, "restated_at": datetime.now(UTC), "run_id": run_id})
    return int(duck.scalar(conn, "SELECT count(*) FROM analytics.restatements")) - before
