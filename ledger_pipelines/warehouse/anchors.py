"""Writing balance anchors to Postgres from the snapshot computation.

An anchor is the exact balance of an account/currency at an instant as the ledger stood at a
watermark (the mirror's Postgres snapshot). ``ledger.balance_anchors`` holds them and
``ledger.balance_anchor_runs`` the watermark and the days each computation covered;
:func:`ledger_pipelines.ledger.balances.balance_at` answers balances from them. Which balances become
anchors is in ``sql/warehouse/anchors/anchor_rows.sql``; why the delta from an anchor is complete
is in docs/warehouse.md ("Anchors and watermarks").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import psycopg

from ledger_pipelines.accounting.calendar import end_of_day, start_of_day
from ledger_pipelines.ledger.bulk import copy_frame
from ledger_pipelines.paths import read_sql
from ledger_pipelines.warehouse import duck
from ledger_pipelines.warehouse.watermark import Watermark

# An anchor at least every ANCHOR_EVERY entries of an account: balance_at reads at most about
# this many entries past its anchor (plus the moves of the day of T), whatever the account's size.
ANCHOR_EVERY = 256
ANCHOR_COLUMNS = [
    "account_id", "currency", "anchor_at", "posted_debits", "posted_credits", "pending_debits", "pending_credits",
    "entry_count",
]


@dataclass(frozen=True)
class AnchorWrite:
    run_id: str
    anchors: int


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
    taken_at: datetime,
    first_day: date,
    last_day: date,
    tz: str,
    replace_all: bool = False,
) -> AnchorWrite:
    """Replace the Postgres anchors of ``first_day..last_day`` with ``new_anchors``, in one transaction.

    ``replace_all`` drops every anchor first (the reporting time zone or start date changed, so
    the whole history was recomputed).
    """
    zone = ZoneInfo(tz)
    range_start = datetime(1900, 1, 1, tzinfo=zone) if replace_all else start_of_day(first_day, zone)
    range_end = datetime(9000, 1, 1, tzinfo=zone) if replace_all else end_of_day(last_day, zone)
    frame = pl.from_arrow(conn.sql(
        "SELECT account_id, currency, anchor_at, posted_debits, posted_credits, pending_debits, pending_credits, "
        "entry_count FROM new_anchors ORDER BY account_id, currency, anchor_at"
    ).to_arrow_table())
    with psycopg.connect(writer_dsn) as pg, pg.transaction():
        pg.execute(read_sql("warehouse/anchors/pg_stage.sql"))
        copy_frame(pg, "anchor_stage", frame, ANCHOR_COLUMNS)
        for statement in _statements(read_sql("warehouse/anchors/pg_replace.sql")):
            pg.execute(statement, {
                "run_id": run_id, "snapshot": watermark.text, "taken_at": taken_at, "first_day": first_day,
                "last_day": last_day, "covered_until": end_of_day(last_day, zone), "timezone": tz,
                "range_start": range_start, "range_end": range_end,
            } if "%(" in statement else None)
    return AnchorWrite(run_id, frame.height)


def _statements(text: str) -> list[str]:
    return [s.strip() for s in text.split(";\n") if "\n".join(
        line for line in s.splitlines() if not line.strip().startswith("--")).strip()]


def delete_all(writer_dsn: str) -> None:
    """Drop every anchor (balance_at falls back to full history until the next snapshot run)."""
    with psycopg.connect(writer_dsn) as conn:
        conn.execute("DELETE FROM ledger.balance_anchors")
        conn.execute("DELETE FROM ledger.balance_anchor_runs")
