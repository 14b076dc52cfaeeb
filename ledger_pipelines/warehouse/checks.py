"""Integrity checks: Pandera (Polars) schemas over comparison frames; failures are the offending rows.

Each check builds one frame in which every row is something that must hold -- a transaction
per currency, an account's cached balance next to its recomputation, a snapshot row next to its
recomputation, a day of the mirror next to the same day in Postgres, a category row next to the
sum of its members -- and validates it with a Pandera schema (``net == 0``, every ``diff_*`` ==
0 and not null). The rows Pandera reports are returned with all their columns, so the metadata
shows what is wrong and by how much. :func:`run_all` runs every check (``subledger verify``);
the Dagster asset checks call the same functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl
import psycopg
from pandera.errors import SchemaErrors

from ledger_pipelines.ledger import chain
from ledger_pipelines.paths import read_sql
from ledger_pipelines.warehouse import arrow_source, duck, freshness
from ledger_pipelines.warehouse.mirror import read_state
from ledger_pipelines.warehouse.restatements import SCOPES

ROW_INDEX = "_row"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: passed, the offending rows, and what was looked at."""

    name: str
    description: str
    passed: bool
    offending: pl.DataFrame
    checked_rows: int
    runbook: str
    notes: dict[str, object] = field(default_factory=dict)

    def as_json(self, limit: int = 50) -> dict[str, object]:
        return {
            "check": self.name,
            "passed": self.passed,
            "description": self.description,
            "checked_rows": self.checked_rows,
            "offending_rows": self.offending.height,
            "offending": self.offending.head(limit).to_dicts(),
            "runbook": None if self.passed else self.runbook,
            **({"notes": self.notes} if self.notes else {}),
        }

    def first_offending(self, limit: int = 20) -> tuple[list[str], list[list[str]]]:
        """Column names and the first ``limit`` offending rows as text (for Dagster's table metadata)."""
        head = self.offending.head(limit)
        return head.columns, [["" if v is None else str(v) for v in row] for row in head.iter_rows()]


def _zero_schema(name: str, columns: list[str]) -> pa.DataFrameSchema:
    """Every listed column is an integer, never null, and equal to zero."""
    return pa.DataFrameSchema(
        {column: pa.Column(pl.Int64, pa.Check.eq(0), nullable=False, coerce=True) for column in columns},
        name=name,
        strict=False,
    )


def validate(frame: pl.DataFrame, schema: pa.DataFrameSchema) -> pl.DataFrame:
    """The rows of ``frame`` that fail ``schema`` (all columns), empty if it passes."""
    indexed = frame.with_row_index(ROW_INDEX)
    try:
        schema.validate(indexed, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        rows = cases.get_column("index").drop_nulls().unique().cast(pl.UInt32) if "index" in cases.columns else None
        if rows is None or rows.is_empty():  # a frame-level failure (e.g. a missing column): report every row
            return frame
        return indexed.filter(pl.col(ROW_INDEX).is_in(rows.implode())).drop(ROW_INDEX)
    return frame.head(0)


def _result(name, description, runbook, frame, schema, **notes) -> CheckResult:
    offending = validate(frame, schema)
    return CheckResult(name, description, offending.is_empty(), offending, frame.height, runbook, notes)


def _duck_frame(conn: duckdb.DuckDBPyConnection, query: str, params: dict | None = None) -> pl.DataFrame:
    return (conn.sql(query, params=params) if params else conn.sql(query)).pl()


def _pg_frame(dsn: str, query: str) -> pl.DataFrame:
    with arrow_source.snapshot_reader(dsn) as source:
        return pl.from_arrow(source.table(query))


def _pg_rows(dsn: str, query: str, params: dict[str, object], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A small query's rows as a frame, with psycopg parameters (values never pasted into SQL)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return pl.DataFrame(conn.execute(query, params).fetchall(), schema=schema, orient="row")


# -- the checks ------------------------------------------------------------------------------
BALANCED = _zero_schema("every transaction balances per currency", ["net"])
RUNBOOK_BALANCED = (
    "A transaction's debits and credits differ in a currency. In Postgres this cannot happen while the ledger's "
    "triggers are enabled: check `SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'ledger.entries'::regclass` "
    "and who disabled them (ledger.audit_log). In the mirror it means the DuckDB copy is damaged: delete the work file "
    "(Settings.warehouse_work_path) and run `subledger run` to rebuild it from Postgres."
)


def balanced_transactions_ledger(dsn: str) -> CheckResult:
    """Every ledger transaction balances per currency (Postgres)."""
    frame = _pg_frame(dsn, read_sql("warehouse/checks/pg_balanced.sql"))
    return _result("balanced_transactions", "every transaction balances per currency (Postgres ledger)", RUNBOOK_BALANCED, frame, BALANCED)


def balanced_transactions_mirror(conn: duckdb.DuckDBPyConnection) -> CheckResult:
    """Every mirrored transaction balances per currency (DuckDB)."""
    frame = _duck_frame(conn, read_sql("warehouse/checks/balanced.sql"))
    return _result("mirror_balanced_transactions", "every mirrored transaction balances per currency", RUNBOOK_BALANCED, frame, BALANCED)


DRIFT_COLUMNS = ["diff_posted_debits", "diff_posted_credits", "diff_pending_debits", "diff_pending_credits"]
CACHE_DRIFT = _zero_schema("cached balances equal the recomputation from entries", DRIFT_COLUMNS)
RUNBOOK_DRIFT = (
    "ledger.balances differs from the sum of the entries for these accounts (diff = cached - recomputed). Only the "
    "ledger's triggers write that table, so someone changed it by hand or a trigger was disabled. Find who in "
    "pg_stat_activity/the server log, then repair each row from the recomputation (as the owner role, in one "
    "transaction: UPDATE ledger.balances SET posted_debits = <recomputed>, ... WHERE account_id = ... AND currency = ...) "
    "and run `subledger verify` again."
)


def cache_drift(dsn: str) -> CheckResult:
    """Cached balances in Postgres equal the recomputation from entries, per account and currency."""
    frame = _pg_frame(dsn, read_sql("warehouse/checks/pg_cache_drift.sql"))
    return _result("cache_drift", "cached balances (ledger.balances) equal the recomputation from entries", RUNBOOK_DRIFT, frame, CACHE_DRIFT)


ANCHOR_DIFF_COLUMNS = [
    "diff_posted_debits", "diff_posted_credits", "diff_pending_debits", "diff_pending_credits", "diff_entry_count",
    "uncovered_moves",
]
ANCHORS_MATCH = _zero_schema("every balance anchor equals the recomputation from entries", ANCHOR_DIFF_COLUMNS)
RUNBOOK_ANCHORS = (
    "A balance anchor (ledger.balance_anchors) differs from the entries at its instant as the ledger stood at its run's "
    "snapshot (diff = stored - recomputed), or a lifecycle move after it has no anchor later that day (uncovered_moves, "
    "from first_uncovered_move). `subledger balance --as-of` answers from the anchors, so its answers from these are "
    "wrong. Only ledger.replace_anchors writes anchors and it checks them: the owner changed them by hand, or entries "
    "were changed with the ledger's triggers disabled (find who in ledger.audit_log / the server log). Run "
    "`subledger run --rebuild-from <the first listed anchor's day>`: it replaces every anchor from that day on; then "
    "verify again."
)


def anchors_match(dsn: str) -> CheckResult:
    """Every balance anchor equals its recomputation from the entries, and no lifecycle move escapes
    ``balance_at`` (Postgres)."""
    frame = _pg_frame(dsn, read_sql("ledger/anchors_match.sql"))
    return _result("anchors_match", "balance anchors (ledger.balance_anchors) equal the recomputation from entries",
                   RUNBOOK_ANCHORS, frame, ANCHORS_MATCH)


CHAIN_SCHEMA = {"link_no": pl.Int64, "kind": pl.String, "record_id": pl.String, "idempotency_key": pl.String,
                "problem": pl.String, "broken": pl.Int64}
CHAIN_INTACT = _zero_schema("the ledger's rows are the ones sealed in the hash chain", ["broken"])
RUNBOOK_CHAIN = (
    "The ledger's history differs from what the hash chain sealed (ledger.chain, docs/security.md): the row named was "
    "changed, inserted, deleted or reordered after it was recorded, or the chain itself was edited or rebuilt. The "
    "ledger's triggers forbid all of that, so someone with the owner's or a superuser's rights did it: see the "
    "schema.ddl rows of ledger.audit_log (disabled triggers) and the server log. Do not seal over it. Restore the "
    "ledger from a backup taken before the link named (its head must equal a head you exported with "
    "`subledger verify --export-head`), or, if the change is understood and accepted, record a correction and keep "
    "this report with the audit evidence."
)


def chain_intact(dsn: str, checkpoint: Path | None = None, *, full: bool = False) -> CheckResult:
    """The ledger's rows are those the hash chain sealed (Postgres, invariant I15).

    From the link verified last (``checkpoint``, a file this check keeps, one entry per ledger
    database: the link is checked to still stand, then only later links are recomputed), or every
    link when ``full`` or there is none.
    On success the checkpoint moves to the head.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        ledger = chain.ledger_identity(conn)
        since = None if full or checkpoint is None else chain.Checkpoint.read(checkpoint, ledger)
        result = chain.verify(conn, since)
    broken = result.broken
    row = ({"link_no": broken.link_no, "kind": broken.kind, "record_id": broken.record_id,
            "idempotency_key": broken.idempotency_key, "problem": broken.problem, "broken": 1} if broken else
           {"link_no": result.head.link_no if result.head else None, "kind": None, "record_id": None,
            "idempotency_key": None, "problem": None, "broken": 0})
    if result.passed and checkpoint is not None:
        chain.Checkpoint(result.head.link_no, result.head.link_hash).write(checkpoint, ledger)
    notes: dict[str, object] = {"links_checked": result.links_checked, "from_link": result.first_link}
    if result.head is not None:
        notes |= {"head_link": result.head.link_no, "head_hash": result.head.link_hash,
                  "unsealed_transactions": result.head.unsealed_transactions}
    offending = validate(pl.DataFrame([row], schema=CHAIN_SCHEMA), CHAIN_INTACT)
    return CheckResult("ledger_chain", "the ledger's rows are the ones sealed in the hash chain", offending.is_empty(),
                       offending, result.records_checked, RUNBOOK_CHAIN, notes)


GUARDS_SCHEMA = {"kind": pl.String, "guard": pl.String, "state": pl.String, "off": pl.Int64}
RUNBOOK_GUARDS = (
    "A guard of the ledger is switched off: a trigger of a ledger or ingest table is disabled (the ledger's rules and "
    "its audit no longer hold for what is written meanwhile), or the DDL audit's event triggers are missing or "
    "disabled. Find who in ledger.audit_log (action schema.ddl: the statement and db_user) and the server log; check "
    "the hash chain with `subledger verify --full`. Then, as the owner, ALTER TABLE <table> ENABLE TRIGGER <name> (or "
    "`subledger up`, which re-applies the function files); a missing event trigger is installed by `subledger up` on "
    "the embedded cluster, or by a superuser running sql/schema/superuser/ddl_audit.sql on an external server."
)


def guards_enabled(dsn: str) -> CheckResult:
    """Every trigger of the ledger's tables fires and the DDL audit is installed and enabled (Postgres)."""
    frame = _pg_rows(dsn, read_sql("ledger/guards_enabled.sql"), {}, GUARDS_SCHEMA)
    return _result("ledger_guards", "every trigger of the ledger's tables and the DDL audit are switched on",
                   RUNBOOK_GUARDS, frame, _zero_schema("no guard is off", ["off"]))


MIRROR_COLUMNS = ["diff_transactions", "diff_entries", "diff_debits", "diff_credits"]
MIRROR_DAYS_SCHEMA = {"effective_day_utc": pl.Date, "currency": pl.Utf8, "status": pl.Utf8, "transactions": pl.Int64,
                      "entries": pl.Int64, "debits": pl.Utf8, "credits": pl.Utf8}
MIRROR_COMPLETE = _zero_schema("the mirror holds what Postgres held at its watermark", MIRROR_COLUMNS)
RUNBOOK_MIRROR = (
    "The DuckDB mirror differs from Postgres as of the mirror's watermark on these days (diff = mirror - Postgres). "
    "Rows were deleted or changed in the work file, or it was restored from an old copy. Rebuild it: delete the work "
    "file (Settings.warehouse_work_path) and run `subledger run`; the mirror then starts from scratch."
)


def mirror_complete(conn: duckdb.DuckDBPyConnection, dsn: str) -> CheckResult:
    """Per effective day (UTC), currency and status: counts and sums in the mirror equal Postgres at the watermark."""
    state = read_state(conn)
    if state is None:
        empty = pl.DataFrame(schema={c: pl.Int64 for c in MIRROR_COLUMNS})
        return CheckResult("mirror_complete", "the mirror is complete", True, empty, 0, RUNBOOK_MIRROR, {"mirror": "not built yet"})
    keys = ["effective_day_utc", "currency", "status"]
    pg = _pg_rows(dsn, read_sql("warehouse/checks/pg_mirror_days.sql"), {"snapshot": state.watermark.text},
                  MIRROR_DAYS_SCHEMA)
    wh = _duck_frame(conn, read_sql("warehouse/checks/mirror_days.sql"))
    value_columns = ["transactions", "entries", "debits", "credits"]
    # 128-bit: a day's sum of 64-bit amounts may pass the 64-bit range (the sums arrive as text)
    pg = pg.select(keys + value_columns).cast({c: pl.Int128 for c in value_columns})
    wh = wh.select(keys + value_columns).cast({c: pl.Int128 for c in value_columns})
    frame = (
        pg.join(wh, on=keys, how="full", coalesce=True, suffix="_mirror")
        .rename({c: f"{c}_postgres" for c in value_columns})
        .with_columns([
            (pl.col(f"{c}_mirror").fill_null(0) - pl.col(f"{c}_postgres").fill_null(0)).alias(f"diff_{c}") for c in value_columns
        ])
        .sort(keys)
    )
    return _result("mirror_complete", "per day, the mirror's counts and sums equal Postgres at the mirror's watermark",
                   RUNBOOK_MIRROR, frame, MIRROR_COMPLETE, watermark=state.watermark.text)


SNAPSHOT_COLUMNS = [
    "diff_posted", "diff_pending", "diff_available", "diff_posted_debits", "diff_posted_credits", "diff_pending_debits",
    "diff_pending_credits", "diff_day_sums", "diff_day_entry_count", "diff_entry_count",
]
RUNBOOK_SNAPSHOTS = (
    "Stored snapshot rows differ from a recomputation from the mirror (diff = stored - recomputed; a missing row shows "
    "as NULL). Someone edited the warehouse file, or it was damaged. Rebuild the days from the first listed one: "
    "`subledger run --rebuild-from <first listed day>` (it records what changed in analytics.restatements), then "
    "`subledger verify`."
)
RUNBOOK_NOT_BUILT = "The snapshots are not built from the current mirror: run `subledger run`, then verify again."


def _not_built(name: str, description: str, columns: list[str], runbook: str, reason: str) -> CheckResult:
    empty = pl.DataFrame(schema={c: pl.Int64 for c in columns})
    return CheckResult(name, description, False, empty, 0, runbook, {"stale": reason})


def snapshots_match(conn: duckdb.DuckDBPyConnection, scope: str, *, tz: str, start, first=None) -> CheckResult:
    """Stored snapshot rows equal a fresh recomputation from the mirror.

    Compares every day from ``first`` (default: the start date, i.e. the whole table; the Dagster
    check passes the first day the latest build wrote) through the last day the table covers. The
    table must be built from the mirror's current watermark: a stale table fails, it is never
    passed on zero days checked while the mirror holds entries.
    """
    from ledger_pipelines.warehouse.snapshots import NEW_ROWS, PRODUCTS, TABLES

    name, description = f"{scope}_snapshots_match", f"{scope} snapshots equal a recomputation from the mirror"
    state = read_state(conn)
    build = freshness.read_build(conn, PRODUCTS[scope])
    entries = int(duck.scalar(conn, "SELECT count(*) FROM analytics.entries"))
    if build is None or state is None or build.last_day is None:
        if entries == 0:
            empty = pl.DataFrame(schema={c: pl.Int64 for c in SNAPSHOT_COLUMNS})
            return CheckResult(name, description, True, empty, 0, RUNBOOK_SNAPSHOTS, {"days_checked": 0, "note": "empty ledger"})
        return _not_built(name, description, SNAPSHOT_COLUMNS, RUNBOOK_NOT_BUILT, f"{scope} snapshots are not built yet")
    if build.watermark != state.watermark.text or build.timezone != tz or build.start_date != start:
        return _not_built(name, description, SNAPSHOT_COLUMNS, RUNBOOK_NOT_BUILT,
                          f"built from watermark {build.watermark}, the mirror is at {state.watermark.text}")
    d1 = max(first or start, start)
    params = {"tz": tz, "start": start, "d1": d1, "d2": build.last_day}
    duck.run_file(conn, "warehouse/snapshots/account_daily.sql", params)
    duck.run_file(conn, f"warehouse/snapshots/{scope}_rows.sql", params)
    spec = SCOPES[scope]
    frame = _duck_frame(
        conn,
        read_sql("warehouse/checks/snapshots_vs_recomputed.sql").format(table=TABLES[scope], new_rows=NEW_ROWS[scope], key=spec["key"]),
        {"d1": d1, "d2": build.last_day},
    ).sort("key", "currency", "as_of_date")
    conn.execute(f"DROP TABLE IF EXISTS {NEW_ROWS[scope]}")
    conn.execute("DROP TABLE IF EXISTS account_daily")
    return _result(name, description, RUNBOOK_SNAPSHOTS, frame, _zero_schema(description, SNAPSHOT_COLUMNS),
                   days_checked=(build.last_day - d1).days + 1, first_day=str(d1), last_day=str(build.last_day))


CATEGORY_COLUMNS = [
    "diff_posted", "diff_pending", "diff_available", "diff_posted_debits", "diff_posted_credits", "diff_pending_debits",
    "diff_pending_credits", "diff_entry_count",
]
CATEGORY_TOTALS = _zero_schema("category totals equal the sum of their members", CATEGORY_COLUMNS)
RUNBOOK_CATEGORIES = (
    "A category row differs from the sum of its member accounts' rows (diff = category - members). Either the "
    "membership changed since the categories were computed (`subledger run` restates them), or the file was edited "
    "(`subledger run --rebuild-from <first listed day>`)."
)


def category_totals(conn: duckdb.DuckDBPyConnection, *, start, first=None) -> CheckResult:
    """Every category row equals the sum of its members' account rows (stored tables only).

    Both tables must be built from the same mirror watermark through the same day; days from
    ``first`` (default: every day) are compared.
    """
    name, description = "category_totals", "category totals equal the sum of their member accounts"
    accounts = freshness.read_build(conn, freshness.ACCOUNT_SNAPSHOTS)
    categories = freshness.read_build(conn, freshness.CATEGORY_SNAPSHOTS)
    if accounts is None or categories is None:
        if not int(duck.scalar(conn, "SELECT count(*) FROM analytics.entries")):
            empty = pl.DataFrame(schema={c: pl.Int64 for c in CATEGORY_COLUMNS})
            return CheckResult(name, description, True, empty, 0, RUNBOOK_CATEGORIES, {"note": "empty ledger"})
        return _not_built(name, description, CATEGORY_COLUMNS, RUNBOOK_NOT_BUILT, "account or category snapshots are not built yet")
    if (accounts.watermark, accounts.last_day) != (categories.watermark, categories.last_day):
        return _not_built(name, description, CATEGORY_COLUMNS, RUNBOOK_NOT_BUILT, (
            f"account snapshots are at {accounts.watermark} through {accounts.last_day}, category snapshots at "
            f"{categories.watermark} through {categories.last_day}"))
    d1 = max(first or start, start)
    frame = _duck_frame(conn, read_sql("warehouse/checks/category_totals.sql"), {"d1": d1, "d2": categories.last_day})
    frame = frame.sort("category", "currency", "as_of_date")
    return _result(name, description, RUNBOOK_CATEGORIES, frame, CATEGORY_TOTALS,
                   first_day=str(d1), last_day=str(categories.last_day))


RUNBOOK_FRESH = (
    "Part of the warehouse is behind the ledger or behind what it is built from (see the 'stale' rows: product and "
    "reason). Finance would read old numbers. Run `subledger run` (it rebuilds exactly what is stale, whatever "
    "interrupted the previous run), or start `subledger dev` and let warehouse_freshness_sensor do it; then verify again."
)


def warehouse_fresh(conn: duckdb.DuckDBPyConnection | None, dsn: str | None, *, tz: str, start, today) -> CheckResult:
    """Every product of the warehouse is built from its input (and the mirror from the ledger, when ``dsn`` is given).

    ``conn`` None: there is no warehouse file; that is stale as soon as the ledger holds a transaction.
    """
    state = read_state(conn) if conn is not None else None
    ledger = freshness.ledger_position(dsn, state.watermark if state else None) if dsn else None
    if conn is None:
        missing = ledger is not None and ledger.transactions
        statuses = [freshness.Staleness("warehouse", not missing, "the warehouse is not built yet" if missing else "")]
    else:
        statuses = freshness.assess(conn, tz=tz, start=start, today=today, ledger=ledger)
    frame = pl.DataFrame(
        {"product": [s.product for s in statuses], "stale": [int(not s.fresh) for s in statuses],
         "reason": [s.advice for s in statuses]},
        schema={"product": pl.String, "stale": pl.Int64, "reason": pl.String},
    )
    return _result("warehouse_fresh", "every warehouse table and report is built from the current ledger", RUNBOOK_FRESH,
                   frame, _zero_schema("nothing is stale", ["stale"]), today=str(today))


def run_all(conn: duckdb.DuckDBPyConnection | None, dsn: str, *, tz: str, start, today,
            chain_checkpoint: Path | None = None, full_chain: bool = False) -> list[CheckResult]:
    """Every integrity check (``subledger verify``); warehouse checks only when ``conn`` is given.

    The hash chain is checked from ``chain_checkpoint`` (see :func:`chain_intact`). On the
    warehouse every check covers every row, and ``warehouse_fresh`` compares it with the ledger: a
    warehouse behind the ledger fails, it never passes on what it has not checked.
    """
    results = [chain_intact(dsn, chain_checkpoint, full=full_chain), guards_enabled(dsn), balanced_transactions_ledger(dsn),
               cache_drift(dsn), anchors_match(dsn)]
    if conn is None:
        results.append(warehouse_fresh(None, dsn, tz=tz, start=start, today=today))
    else:
        warehouse: list[Callable[[], CheckResult]] = [
            lambda: warehouse_fresh(conn, dsn, tz=tz, start=start, today=today),
            lambda: balanced_transactions_mirror(conn),
            lambda: mirror_complete(conn, dsn),
            lambda: snapshots_match(conn, "account", tz=tz, start=start),
            lambda: snapshots_match(conn, "category", tz=tz, start=start),
            lambda: category_totals(conn, start=start),
        ]
        results += [check() for check in warehouse]
    return results
