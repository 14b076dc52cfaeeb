"""Freshness: one notion of "built from what", shared by runs, sensors, checks and ``verify``.

Every derived product of the warehouse records, when it is built, the mirror watermark it
reflects (a Postgres snapshot), the last day it covers and the settings it depends on
(``warehouse_meta.builds``). The chain is::

    ledger (Postgres) -> mirror -> account snapshots ->
                               \\-> category snapshots -> reports (dbt, then published)

A product is **stale** when it is behind its input: the mirror when Postgres holds transactions
created or moved after its watermark, or other categories, memberships, account types or
accounts; a snapshot table when it was built from another mirror watermark, does not reach today,
or was built with another time zone, start date or (categories) membership; the reports when they
were built from other snapshots. Staleness is judged from what is recorded, never from what a run
intended to do, so a run interrupted at any point leaves something stale that the next run
rebuilds. :func:`assess` says, per product, whether it is fresh and, if not, why and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import psycopg

from ledger_pipelines.paths import read_sql
from ledger_pipelines.warehouse import duck
from ledger_pipelines.warehouse.mirror import MirrorState, read_state
from ledger_pipelines.warehouse.watermark import Watermark

MIRROR = "mirror"
ACCOUNT_SNAPSHOTS = "account_snapshots"
CATEGORY_SNAPSHOTS = "category_snapshots"
REPORTS = "reports"
PRODUCTS = (MIRROR, ACCOUNT_SNAPSHOTS, CATEGORY_SNAPSHOTS, REPORTS)

RUN_HINT = "run `subledger run` (or let `subledger dev`'s warehouse_freshness_sensor do it)"


@dataclass(frozen=True)
class Build:
    """What one product was last built from (a row of ``warehouse_meta.builds``)."""

    product: str
    watermark: str
    last_day: date | None
    timezone: str
    start_date: date
    fingerprint: str
    first_written: date | None
    run_id: str
    built_at: datetime


def read_build(conn: duckdb.DuckDBPyConnection, product: str) -> Build | None:
    found = duck.rows(
        conn,
        "SELECT product, watermark, last_day, timezone, start_date, fingerprint, first_written, run_id, built_at "
        "FROM warehouse_meta.builds WHERE product = $p",
        {"p": product},
    )
    return Build(*found[0]) if found else None


def record_build(
    conn: duckdb.DuckDBPyConnection,
    product: str,
    *,
    watermark: str,
    last_day: date | None,
    timezone: str,
    start_date: date,
    fingerprint: str,
    first_written: date | None,
    run_id: str,
) -> None:
    """Replace ``product``'s build record (call it in the transaction that writes the product)."""
    conn.execute("DELETE FROM warehouse_meta.builds WHERE product = $p", {"p": product})
    conn.execute(
        "INSERT INTO warehouse_meta.builds VALUES ($p, $w, $last, $tz, $start, $f, $first, $run, now())",
        {"p": product, "w": watermark, "last": last_day, "tz": timezone, "start": start_date, "f": fingerprint,
         "first": first_written, "run": run_id},
    )


def membership_fingerprint(conn: duckdb.DuckDBPyConnection) -> str:
    """A fingerprint of ``analytics.account_categories`` and category signs (category rows depend on them)."""
    return str(duck.scalar(
        conn,
        "SELECT md5(coalesce((SELECT string_agg(category || chr(31) || account, chr(30) ORDER BY category, account) "
        "FROM analytics.account_categories), '') || '#' || coalesce((SELECT string_agg(category || chr(31) || "
        "normal_balance, chr(30) ORDER BY category) FROM analytics.categories), ''))",
    ))


@dataclass(frozen=True)
class LedgerPosition:
    """Where the ledger stands relative to a mirror watermark (read from Postgres, reader role)."""

    changed_since: int | None  # transactions created or moved after the watermark; None: no watermark given
    fingerprint: str  # see sql/warehouse/mirror/pg_fingerprint.sql
    last_change: str  # the highest changed_xid (a stable name for "the ledger as it stands")
    transactions: bool  # the ledger holds at least one transaction


def ledger_position(dsn: str, since: Watermark | None) -> LedgerPosition:
    """How far the ledger is ahead of ``since`` (cheap: index range scans and small tables)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        changed = None
        if since is not None:
            changed = int(conn.execute(read_sql("warehouse/mirror/pg_behind.sql"), {"snapshot": since.text}).fetchone()[0])
        fingerprint = conn.execute(read_sql("warehouse/mirror/pg_fingerprint.sql")).fetchone()[0]
        last = conn.execute("SELECT max(changed_xid)::text FROM ledger.transactions").fetchone()[0]
    return LedgerPosition(changed, fingerprint, last or "0", last is not None)


@dataclass(frozen=True)
class Staleness:
    """One product: fresh or not, and if not, why (:attr:`advice` adds what to do)."""

    product: str
    fresh: bool
    reason: str = ""

    @property
    def advice(self) -> str:
        return f"{self.reason}; {RUN_HINT}" if self.reason else ""

    def as_json(self) -> dict[str, object]:
        return {"product": self.product, "fresh": self.fresh, "reason": self.reason or None}


def _snapshot_staleness(product: str, build: Build | None, mirror: MirrorState | None, *, tz: str, start: date,
                        today: date, fingerprint: str = "") -> Staleness:
    if mirror is None:
        return Staleness(product, False, "the mirror is not built yet")
    if build is None:
        return Staleness(product, False, "not built yet")
    if build.timezone != tz or build.start_date != start:
        return Staleness(product, False, (
            f"built for SUBLEDGER_TIMEZONE={build.timezone}, SUBLEDGER_START_DATE={build.start_date}; the settings are "
            f"{tz}, {start}: every day is rebuilt by the next run"))
    if build.watermark != mirror.watermark.text:
        return Staleness(product, False, (
            f"built from mirror watermark {build.watermark}, the mirror is at {mirror.watermark.text}: the days changed "
            f"since are restated by the next run"))
    if product == CATEGORY_SNAPSHOTS and build.fingerprint != fingerprint:
        return Staleness(product, False, "category membership changed since it was built: every day is restated by the next run")
    if build.last_day is None or build.last_day < today:
        return Staleness(product, False, f"covers days through {build.last_day}, today is {today}")
    return Staleness(product, True)


def assess(
    conn: duckdb.DuckDBPyConnection,
    *,
    tz: str,
    start: date,
    today: date,
    ledger: LedgerPosition | None = None,
) -> list[Staleness]:
    """Every product of the warehouse ``conn``: fresh or stale, with the reason.

    ``ledger`` (from :func:`ledger_position` with the mirror's watermark) adds the comparison of
    the mirror with Postgres; without it the mirror is judged only on its time zone.
    """
    mirror = read_state(conn)
    out: list[Staleness] = []
    if mirror is None:
        out.append(Staleness(MIRROR, False, "the warehouse has no mirror yet"))
    elif mirror.timezone != tz:
        out.append(Staleness(MIRROR, False, f"entries are dated in {mirror.timezone}, SUBLEDGER_TIMEZONE is {tz}"))
    elif ledger is not None and ledger.changed_since:
        out.append(Staleness(MIRROR, False, (
            f"{ledger.changed_since} transaction(s) were created or moved in the ledger after the mirror's watermark "
            f"{mirror.watermark.text}")))
    elif ledger is not None and ledger.fingerprint != mirror.ledger_fingerprint:
        out.append(Staleness(MIRROR, False, "categories, memberships, account types or accounts changed in the ledger"))
    else:
        out.append(Staleness(MIRROR, True))
    accounts = read_build(conn, ACCOUNT_SNAPSHOTS)
    categories = read_build(conn, CATEGORY_SNAPSHOTS)
    out.append(_snapshot_staleness(ACCOUNT_SNAPSHOTS, accounts, mirror, tz=tz, start=start, today=today))
    out.append(_snapshot_staleness(CATEGORY_SNAPSHOTS, categories, mirror, tz=tz, start=start, today=today,
                                   fingerprint=membership_fingerprint(conn) if mirror else ""))
    reports = read_build(conn, REPORTS)
    if reports is None:
        out.append(Staleness(REPORTS, False, "the reports are not built yet"))
    elif accounts is None or categories is None or not (
        reports.watermark == accounts.watermark == categories.watermark
        and reports.last_day == accounts.last_day == categories.last_day
    ):
        out.append(Staleness(REPORTS, False, (
            f"built from snapshots at watermark {reports.watermark} through {reports.last_day}; the snapshots are at "
            f"{accounts.watermark if accounts else '-'} through {accounts.last_day if accounts else '-'}")))
    else:
        out.append(Staleness(REPORTS, True))
    return out


class StaleInputs(RuntimeError):
    """The reports would be built from snapshots of another generation than the mirror."""


def report_inputs(conn: duckdb.DuckDBPyConnection) -> Build:
    """The account snapshots' build, if the mirror and both snapshot tables are of one generation.

    The reports read the mirror and both snapshot tables; built from tables of different
    watermarks they would mix generations. Raises :class:`StaleInputs` saying what to run.
    """
    mirror = read_state(conn)
    accounts = read_build(conn, ACCOUNT_SNAPSHOTS)
    categories = read_build(conn, CATEGORY_SNAPSHOTS)
    if mirror is None or accounts is None or categories is None:
        raise StaleInputs("the warehouse is not built yet: materialise the mirror and the snapshots first (`subledger run`).")
    if not (accounts.watermark == categories.watermark == mirror.watermark.text and accounts.last_day == categories.last_day):
        raise StaleInputs(
            f"the snapshots are not of the mirror's generation (mirror {mirror.watermark.text}; account snapshots "
            f"{accounts.watermark} through {accounts.last_day}; category snapshots {categories.watermark} through "
            f"{categories.last_day}): materialise the snapshots first (`subledger run` does it in order).")
    return accounts


def record_reports_build(conn: duckdb.DuckDBPyConnection, run_id: str) -> Build:
    """Record that the reports were just built from the tables as they stand (after a successful dbt build).

    The reports take the snapshots' watermark and last day (:func:`report_inputs` must hold):
    :func:`assess` then calls them fresh only while the snapshots are still at that watermark and day.
    """
    accounts = report_inputs(conn)
    record_build(conn, REPORTS, watermark=accounts.watermark, last_day=accounts.last_day, timezone=accounts.timezone,
                 start_date=accounts.start_date, fingerprint="", first_written=None, run_id=run_id)
    return read_build(conn, REPORTS)


def generation(conn: duckdb.DuckDBPyConnection) -> tuple[str, date | None] | None:
    """The (watermark, last day) the reports of ``conn`` were built from, or None before the first build."""
    build = read_build(conn, REPORTS)
    return (build.watermark, build.last_day) if build else None
