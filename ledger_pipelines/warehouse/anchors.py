"""Balance anchors proposed by the snapshot computation; the ledger checks and writes them.

The account snapshot computation already holds every account's sums at the end of every day, so
it proposes the anchors ``balance_at`` answers from: which balances become anchors is in
``sql/warehouse/anchors/anchor_rows.sql`` (:func:`compute`), why the delta from an anchor is
complete in docs/warehouse.md ("Anchors and watermarks"). :func:`write` hands them to the ledger
(:mod:`ledger_pipelines.ledger.anchors`), which recomputes every one from the entries before it
stores them; the warehouse cannot write ``ledger.*`` tables itself.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import psycopg

from ledger_pipelines.accounting.calendar import end_of_day, start_of_day
from ledger_pipelines.ledger.anchors import ANCHOR_COLUMNS, AnchorRun, replace
from ledger_pipelines.warehouse import duck
from ledger_pipelines.warehouse.watermark import Watermark

# An anchor at least every ANCHOR_EVERY entries of an account: balance_at reads at most about
# this many entries past its anchor (plus the moves of the day of T), whatever the account's size.
ANCHOR_EVERY = 256



def compute(conn: duckdb.DuckDBPyConnection, *, tz: str, start: date, every: int = ANCHOR_EVERY) -> int:
    """Build temp table ``new_anchors`` from ``new_account_rows``; returns its row count."""
    duck.run_file(conn, "warehouse/anchors/anchor_rows.sql", {"tz": tz, "start": start, "k": every})
    return int(duck.scalar(conn, "SELECT count(*) FROM new_anchors"))


def write(
    conn: duckdb.DuckDBPyConnection,
    writer_dsn: str,
    *,
    run_id: str,
    watermark: Watermark,
    first_day: date,
    last_day: date,
    tz: str,
    replace_all: bool = False,
) -> int:
    """Propose ``new_anchors`` to the ledger as the anchors of ``first_day..last_day`` (every anchor,
    with ``replace_all``: the reporting time zone or start date changed, so the whole history was
    recomputed); return how many it wrote. Raises :class:`~ledger_pipelines.ledger.anchors.AnchorsRefused`
    if the ledger refuses them."""
    zone = ZoneInfo(tz)
    run = AnchorRun(
        run_id=run_id, snapshot=watermark.text, first_day=first_day, last_day=last_day,
        covered_until=end_of_day(last_day, zone), timezone=tz,
        replace_from=datetime(1900, 1, 1, tzinfo=zone) if replace_all else start_of_day(first_day, zone),
        replace_until=datetime(9000, 1, 1, tzinfo=zone) if replace_all else end_of_day(last_day, zone),
    )
    frame = pl.from_arrow(conn.sql(
        f"SELECT {', '.join(ANCHOR_COLUMNS)} FROM new_anchors ORDER BY account_id, currency, anchor_at"
    ).to_arrow_table())
    with psycopg.connect(writer_dsn) as pg, pg.transaction():
        return replace(pg, run, frame)
