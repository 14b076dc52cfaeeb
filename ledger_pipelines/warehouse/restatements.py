"""Restatements: what a recomputation changed in days that had already been reported, and why.

When a batch posts entries effective on (or moves transactions on) days whose snapshots exist,
those days' balances -- and, balances being cumulative, every later row of the same accounts and
categories -- change. :func:`affected_days` finds exactly which computed days hold rows that
change; the snapshot computation recomputes them (one vectorised run) and, before replacing the
rows, :func:`record` writes per account/category, currency and day the old and new balances and
the batch that caused the change into ``analytics.restatements``.

"Caused by": every batch that created a transaction (or moved one) after the watermark the old
rows were computed from, touching the account (or a member of the category) on or before that
day. A row restated for two batches is recorded once per batch.
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


def record(
    conn: duckdb.DuckDBPyConnection,
    scope: str,
    d1: date,
    d2: date,
    *,
    start: date,
    tz: str,
    run_id: str,
) -> int:
    """Record the restatements of recomputing ``d1..d2`` of ``scope``; returns rows recorded.

    Needs the scope's new rows in their temp table (``new_account_rows``/``new_category_rows``)
    and runs before the stored rows are replaced.
    """
    spec = SCOPES[scope]
    duck.run(conn, read_sql("warehouse/restatements/diff.sql").format(**spec), {"scope": scope, "d1": d1, "d2": d2})
    snapshots = [r[0] for r in duck.rows(conn, "SELECT DISTINCT snapshot FROM restated_rows")]
    before = int(duck.scalar(conn, "SELECT count(*) FROM analytics.restatements"))
    restated_at = datetime.now(UTC)
    for text in snapshots:
        old = Watermark.parse(text)
        duck.run(
            conn,
            read_sql("warehouse/restatements/causes.sql").format(
                visible_created=old.duckdb_visible("t.created_xid"), visible_changed=old.duckdb_visible("t.changed_xid")
            ),
            {"start": start, "tz": tz},
        )
        duck.run(
            conn,
            read_sql("warehouse/restatements/record.sql").format(**spec),
            {"snapshot": text, "scope": scope, "restated_at": restated_at, "run_id": run_id},
        )
    return int(duck.scalar(conn, "SELECT count(*) FROM analytics.restatements")) - before


def affected_days(
    conn: duckdb.DuckDBPyConnection,
    touched: list[date],
    *,
    accounts: list[str] | None = None,
) -> list[date]:
    """Computed days whose stored rows change when ``accounts`` change from the ``touched`` days on.

    Balances are cumulative, so a change effective on day d changes the row on d (or adds one)
    and every later row of the same account and of its categories. With ``accounts`` None
    (unknown), every account is assumed touched. Only days already computed are returned: days
    never computed are not restatements, they are simply built by the next run.
    """
    if not touched:
        return []
    first = min(touched)
    computed = duck.rows(
        conn,
        "SELECT DISTINCT as_of_date FROM warehouse_meta.snapshot_days WHERE as_of_date >= $first ORDER BY 1",
        {"first": first},
    )
    computed_days = [r[0] for r in computed]
    if accounts is None or not computed_days:
        return computed_days
    conn.register("touched_accounts", duckdb_list_frame(accounts))
    try:
        rows = duck.rows(
            conn,
            """
            WITH keys AS (
                SELECT DISTINCT ac.category AS key FROM analytics.account_categories ac
                  JOIN touched_accounts t ON t.account = ac.account
            ), touched_rows AS (
                SELECT as_of_date FROM analytics.account_balance_snapshots s
                 WHERE s.account IN (SELECT account FROM touched_accounts) AND s.as_of_date >= $first
                UNION
                SELECT as_of_date FROM analytics.category_balance_snapshots s
                 WHERE s.category IN (SELECT key FROM keys) AND s.as_of_date >= $first
            )
            SELECT DISTINCT as_of_date FROM touched_rows ORDER BY 1
            """,
            {"first": first},
        )
    finally:
        conn.unregister("touched_accounts")
    days = {r[0] for r in rows} | {d for d in touched if d in set(computed_days)}
    return sorted(d for d in days if d in set(computed_days))


def duckdb_list_frame(accounts: list[str]):
    """A one-column Arrow table of account codes (to join in DuckDB without Python loops)."""
    import pyarrow as pa

    return pa.table({"account": pa.array(accounts, pa.string())})


def days_to_build(conn: duckdb.DuckDBPyConnection, first: date, last: date, *, start: date, tz: str) -> list[date]:
    """Days in ``first..last`` that are missing, or whose rows are stale given the current mirror.

    A computed day is stale when a transaction created or moved after the watermark it was
    computed from changes some balance on or before it. For ``subledger run`` without
    ``--partition``: mirror first, then build exactly these days (one range run).
    """
    computed = {
        r[0]: r[1] for r in duck.rows(
            conn,
            "SELECT as_of_date, snapshot FROM warehouse_meta.snapshot_days WHERE scope = 'account' AND as_of_date BETWEEN $a AND $b",
            {"a": first, "b": last},
        )
    }
    mirror_now = duck.rows(conn, "SELECT snapshot FROM warehouse_meta.mirror_state")
    current = mirror_now[0][0] if mirror_now else None
    earliest_change: dict[str, date | None] = {}
    for text in {s for s in computed.values() if s != current}:
        old = Watermark.parse(text)
        duck.run(
            conn,
            read_sql("warehouse/restatements/causes.sql").format(
                visible_created=old.duckdb_visible("t.created_xid"), visible_changed=old.duckdb_visible("t.changed_xid")
            ),
            {"start": start, "tz": tz},
        )
        earliest_change[text] = duck.scalar(conn, "SELECT min(first_day) FROM restatement_causes")
    out = []
    day = first
    while day <= last:
        snapshot = computed.get(day)
        if snapshot is None:
            out.append(day)
        elif snapshot != current and earliest_change.get(snapshot) is not None and earliest_change[snapshot] <= day:
            out.append(day)
        day = date.fromordinal(day.toordinal() + 1)
    return out
