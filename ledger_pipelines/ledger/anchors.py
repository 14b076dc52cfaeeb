"""Balance anchors: the ledger writes them, through ``ledger.replace_anchors``, after checking them.

An anchor is the exact balance of an account/currency at an instant -- the four sums and the
entry count -- as the ledger stood at a watermark (a Postgres snapshot): ``balance_at`` answers
"as of T" from the latest anchor before T plus the few entries whose contribution differs
(docs/warehouse.md, "Anchors and watermarks"). The warehouse computes candidates from its mirror
(:mod:`ledger_pipelines.warehouse.anchors`) and proposes them here; the database recomputes every
one from the entries and refuses the whole run -- :class:`AnchorsRefused`, nothing written -- if
one differs, if the snapshot is not one the ledger has reached, or if a lifecycle move would be
left without the anchor ``balance_at`` relies on (``sql/schema/functions/ledger.replace_anchors.sql``,
invariant I14). The writer role can neither insert, change nor delete anchors any other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import polars as pl
import psycopg

from ledger_pipelines.accounting.errors import LedgerError
from ledger_pipelines.paths import read_sql

# The columns of a proposed anchor, as ledger.replace_anchors takes them.
ANCHOR_COLUMNS = [
    "account_id", "currency", "anchor_at", "posted_debits", "posted_credits", "pending_debits", "pending_credits",
    "entry_count",
]


class AnchorsRefused(LedgerError):
    """The ledger refused a run of anchors (SQLSTATE LDG10): one differs from the entries, or the run
    would leave balance_at without an anchor it relies on. Nothing was written."""

    reason_code = "anchors_refused"
    sqlstate = "LDG10"


@dataclass(frozen=True)
class AnchorRun:
    """One computation's anchors: what it read (``snapshot``, Postgres' text form), the days it
    covered in ``timezone`` and the end of the last one, and the instants whose stored anchors it
    replaces (``replace_from`` .. ``replace_until``, both included)."""

    run_id: str
    snapshot: str
    first_day: date
    last_day: date
    covered_until: datetime
    timezone: str
    replace_from: datetime
    replace_until: datetime


def replace(conn: psycopg.Connection, run: AnchorRun, anchors: pl.DataFrame) -> int:
    """Replace the stored anchors of ``run``'s range with ``anchors`` (columns :data:`ANCHOR_COLUMNS`),
    in the caller's transaction; return how many were written.

    Raises :class:`AnchorsRefused` (the database's message names the first offending anchor or
    move) when the ledger refuses them.
    """
    params = {
        "run_id": run.run_id, "snapshot": run.snapshot, "first_day": run.first_day, "last_day": run.last_day,
        "covered_until": run.covered_until, "timezone": run.timezone, "replace_from": run.replace_from,
        "replace_until": run.replace_until,
        **{column: anchors.get_column(column).to_list() for column in ANCHOR_COLUMNS},
    }
    try:
        return conn.execute(read_sql("ledger/replace_anchors.sql"), params).fetchone()[0]
    except psycopg.Error as exc:
        if exc.sqlstate != AnchorsRefused.sqlstate:
            raise
        hint = exc.diag.message_hint
        raise AnchorsRefused(f"{exc.diag.message_primary}. {hint}" if hint else str(exc.diag.message_primary)) from exc
