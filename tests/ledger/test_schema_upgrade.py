"""The squashed schema: a ledger built by the stacked migrations of 0.1.0 upgrades in place.

``fixtures/schema_f282fcf/`` holds the migrations as they were at commit f282fcf (0001..0024, without
0011 and 0025); ``fixtures/schema_0_1_0_extra/`` the two that came after (0011, 0025), so both
stacked schemas are tried. Each database gets data through the ledger's API of today (postings,
pending transactions and their moves, a reversal, a category, a closed period) and, for what
today's API writes differently (quarantine entries without 0011's columns; anchors, which the writer
inserted itself then), through the statements the code of that time sent as the writer. Then
today's :func:`migrate` runs, and the upgraded database must hold the same data, refuse what the
guards refuse, keep cached balances and anchors equal to their recomputation, accept a new posting,
and have exactly the schema (``pg_dump --schema-only``) of a database built from the baseline.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql
from yoyo import get_backend, read_migrations

from ledger_pipelines.accounting.calendar import end_of_day
from ledger_pipelines.accounting.errors import LedgerError
from ledger_pipelines.ledger.balances import balances, recomputed_balances
from ledger_pipelines.ledger.chain import verify
from ledger_pipelines.ledger.periods import close_period
from ledger_pipelines.ledger.posting import Ledger
from ledger_pipelines.paths import sql_dir
from ledger_pipelines.postgres import migrate as migrate_module
from ledger_pipelines.postgres.cluster import OWNER_ROLE, find_postgres_bindir
from ledger_pipelines.postgres.migrate import BASELINE, MigrationError, _yoyo_uri, migrate
from ledger_pipelines.warehouse.checks import anchors_match, balanced_transactions_ledger, cache_drift
from tests.conftest import LedgerDatabase, drop_database, make_database
from tests.ledger.helpers_ledger import open_ledger, snapshot, transfer
from tests.ledger.helpers_sql import (
    PARTITION_GUARDS,
    attempt,
    create_accounts,
    insert_entry_sql,
    insert_transaction_sql,
    move_sql,
    partitions,
    post_raw,
    scalar,
)

FIXTURES = Path(__file__).parent / "fixtures"
STACKED = {
    "f282fcf": [FIXTURES / "schema_f282fcf"],
    "0.1.0": [FIXTURES / "schema_f282fcf", FIXTURES / "schema_0_1_0_extra"],
}
T0 = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
ANCHOR_DAYS = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)]


def stacked_database(cluster, folders: list[Path]) -> LedgerDatabase:
    """A new database built by the old migrations in ``folders`` (yoyo, as 0.1.0's migrate did)."""
    name = "u_" + uuid.uuid4().hex[:16]
    with psycopg.connect(cluster.superuser_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(OWNER_ROLE)))
    dsns = cluster.dsns(database=name)
    backend = get_backend(_yoyo_uri(dsns.dsn))
    try:
        with backend.lock():
            backend.apply_migrations(backend.to_apply(read_migrations(*map(str, folders))))
    finally:
        backend.connection.close()
    return LedgerDatabase(name, dsns.dsn, dsns.writer_dsn, dsns.reader_dsn, cluster.superuser_dsn(name))


@contextmanager
def writer_ledger(db: LedgerDatabase) -> Iterator[Ledger]:
    ledger = open_ledger(db.writer_dsn)
    try:
        yield ledger
    finally:
        ledger.conn.close()


def write_history(db: LedgerDatabase) -> None:
    """Postings, moves, a reversal, a category, a closed period, quarantine, anchors: the rows 0.1.0
    wrote, inserted as the writer through raw SQL (today's Ledger calls the posting functions, which
    an old database gets only from the migrate under test)."""
    create_accounts(db.writer_dsn, [("assets:cash", "debit", None), ("equity:capital", "credit", None),
                                    ("assets:receivable", "debit", None), ("revenue:sales", "credit", None),
                                    ("expenses:refunds", "debit", None)])

    def post(key: str, debit: str, credit: str, amount: int, currency: str = "USD", *, status: str = "posted",
             at: datetime = T0, reverses: str | None = None) -> str:
        return post_raw(db.writer_dsn, key, [(debit, "debit", amount, currency), (credit, "credit", amount, currency)],
                        status, at, reverses)

    post("fund", "assets:cash", "equity:capital", 10_000)
    post("fund-eur", "assets:cash", "equity:capital", 700, "EUR")
    hold_1 = post("hold-1", "assets:receivable", "revenue:sales", 2_500, status="pending", at=T0 + timedelta(hours=1))
    hold_2 = post("hold-2", "assets:receivable", "revenue:sales", 400, status="pending", at=T0 + timedelta(hours=2))
    post("hold-3", "assets:receivable", "revenue:sales", 90, status="pending", at=T0 + timedelta(hours=3))
    assert attempt(db.writer_dsn, move_sql(hold_1, "posted", T0 + timedelta(days=1))).committed
    assert attempt(db.writer_dsn, move_sql(hold_2, "archived", T0 + timedelta(days=1, hours=2))).committed
    refund = post("refund", "expenses:refunds", "assets:cash", 300, at=T0 + timedelta(days=1))
    post("refund-reversed", "assets:cash", "expenses:refunds", 300, at=T0 + timedelta(days=2), reverses=refund)
    with writer_ledger(db) as ledger:
        ledger.create_category("plan:pro")
        ledger.add_to_category("plan:pro", ["assets:receivable"])
    post("february", "assets:cash", "equity:capital", 5, at=datetime(2024, 2, 10, tzinfo=UTC))
    with psycopg.connect(db.writer_dsn) as conn:
        close_period(conn, "2024-02", ZoneInfo("UTC"), actor="test", reason="month end")
        # an ingestion batch with one quarantined event, as 0.1.0's ingest wrote it
        batch = uuid.uuid4()
        conn.execute("INSERT INTO ingest.batches (batch_id, source_kind, source_name, content_hash, events, quarantined, reasons) "
                     "VALUES (%s, 'file', 'landing/a.jsonl', %s, 1, 1, '{\"invalid_amount\": 1}')", [batch, "ab" * 32])
        conn.execute("INSERT INTO ingest.quarantine (batch_id, seq, line_no, event_id, event_type, reason_code, message, raw, source_name) "
                     "VALUES (%s, 0, 1, 'evt_1', 'charge', 'invalid_amount', 'amount is not an integer', %s, 'landing/a.jsonl')",
                     [batch, b'{"event_id": "evt_1", "amount": "1.5"}'])
        write_old_anchors(conn)


def write_old_anchors(conn: psycopg.Connection) -> None:
    """End-of-day anchors of every account/currency on ANCHOR_DAYS, inserted by the writer as 0.1.0's
    warehouse did (sql/warehouse/anchors/pg_replace.sql of f282fcf), from the ledger as it stands."""
    run_id = uuid.uuid4()
    snap = conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
    ends = [end_of_day(day, ZoneInfo("UTC")) for day in ANCHOR_DAYS]
    conn.execute(
        "INSERT INTO ledger.balance_anchor_runs (run_id, snapshot, snapshot_xmin, taken_at, first_day, last_day, covered_until, timezone) "
        "VALUES (%s, %s::pg_snapshot, pg_snapshot_xmin(%s::pg_snapshot), clock_timestamp(), %s, %s, %s, 'UTC')",
        [run_id, snap, snap, ANCHOR_DAYS[0], ANCHOR_DAYS[-1], ends[-1]],
    )
    conn.execute(
        """
        INSERT INTO ledger.balance_anchors (account_id, currency, anchor_at, run_id, posted_debits, posted_credits,
                                            pending_debits, pending_credits, entry_count)
        SELECT e.account_id, e.currency, a.at, %(run)s,
               coalesce(sum(e.amount) FILTER (WHERE e.direction = 'debit' AND posted), 0),
               coalesce(sum(e.amount) FILTER (WHERE e.direction = 'credit' AND posted), 0),
               coalesce(sum(e.amount) FILTER (WHERE e.direction = 'debit' AND pending), 0),
               coalesce(sum(e.amount) FILTER (WHERE e.direction = 'credit' AND pending), 0),
               count(*)
          FROM unnest(%(ends)s::timestamptz[]) AS a(at)
          JOIN ledger.entries e ON e.effective_at <= a.at
          JOIN ledger.transactions t USING (transaction_id)
         CROSS JOIN LATERAL (SELECT t.status = 'posted' AND t.posted_at <= a.at AS posted,
                                    t.status = 'pending' OR coalesce(t.posted_at, t.archived_at) > a.at AS pending) s
         GROUP BY e.account_id, e.currency, a.at
        """,
        {"run": run_id, "ends": ends},
    )


#: The audit log's and period closures' columns of 0.1.0; 0004 adds db_user (NULL on older rows).
AUDIT_LOG_COLUMNS = "audit_id, at, actor, action, target_type, target_id, before, after, reason, batch_id, xid"
PERIOD_CLOSURE_COLUMNS = "closure_id, period, action, starts_at, ends_at, timezone, at, actor, reason"


def ledger_rows(dsn: str) -> dict:
    """helpers_ledger.snapshot, with the audit log's rows as 0.1.0's columns (but migrate's own record)
    and each account with its lock_version: stored before 0012, derived from its balances after."""
    out = snapshot(dsn)
    with psycopg.connect(dsn) as conn:
        out["audit_log"] = conn.execute(f"SELECT coalesce(array_agg(({AUDIT_LOG_COLUMNS})::text ORDER BY at, audit_id), "
                                        "'{}') FROM ledger.audit_log WHERE action <> 'schema.migrated'").fetchone()[0]
        derived = conn.execute("SELECT to_regprocedure('ledger.lock_version(uuid)') IS NOT NULL").fetchone()[0]
        version = "ledger.lock_version(a.account_id)" if derived else "a.lock_version"
        out["accounts"] = conn.execute(
            f"SELECT array_agg((a.account_id, a.code, a.normal_balance, a.currency, a.metadata, a.created_at, {version})::text "
            "ORDER BY a.account_id) FROM ledger.accounts a").fetchone()[0]
    return out


def table_rows(dsn: str) -> dict[str, list[str]]:
    """What the upgrade must keep besides the ledger tables of helpers_ledger.snapshot."""
    out = {}
    with psycopg.connect(dsn) as conn:
        for table, order in (("ledger.period_closures", "closure_id"), ("ledger.categories", "code"),
                             ("ledger.balance_anchors", "account_id, currency, anchor_at"),
                             ("ledger.balance_anchor_runs", "run_id"), ("ingest.batches", "batch_id"),
                             ("ingest.quarantine", "quarantine_id"), ("ledger.account_types", "top_segment")):
            columns = {  # 0011, 0004 and 0006 add columns: compare the old ones
                "ingest.quarantine": "batch_id, seq, line_no, event_id, event_type, reason_code, message, raw, source_name, "
                                     "quarantined_at",
                "ingest.batches": "batch_id, source_kind, source_name, content_hash, started_at, completed_at, events, posted, "
                                  "pending, duplicate, quarantined, backdated, bytes, seconds, effective_dates, reasons, "
                                  "outbox_xmin, outbox_xmax",
                "ledger.period_closures": PERIOD_CLOSURE_COLUMNS,
            }.get(table, "t.*")
            out[table] = conn.execute(f"SELECT array_agg(({columns})::text ORDER BY {order}) FROM {table} t").fetchone()[0]
    return out


def schema_dump(db: LedgerDatabase) -> str:
    """The ledger's and ingest's schema as pg_dump prints it (tables, functions, triggers, owners,
    grants), without comments and settings."""
    pg_dump = find_postgres_bindir() / "pg_dump"
    argv = [str(pg_dump), "--schema-only", "--schema=ledger", "--schema=ingest", "--dbname", db.superuser_dsn]
    text = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    lines = [line for line in text.splitlines()
             if line.strip() and not line.startswith(("--", "SET ", "SELECT pg_catalog.set_config", "\\restrict", "\\unrestrict"))]
    return "\n".join(lines)


@pytest.fixture(params=list(STACKED))
def upgraded(request, pg_cluster):
    """(the old database after today's migrate, what it held before, its as-of answers before, the ids
    migrate ran)."""
    db = stacked_database(pg_cluster, STACKED[request.param])
    try:
        write_history(db)
        before = (ledger_rows(db.dsn), table_rows(db.dsn))
        with psycopg.connect(db.dsn) as conn:  # the reference recomputation calls ledger.entry_state, new since 0.1.0
            conn.execute((sql_dir() / "schema" / "functions" / "ledger.entry_state.sql").read_text())
        before_balances = _answers(db)
        ran = migrate(db.dsn)
        yield db, before, before_balances, ran
    finally:
        drop_database(pg_cluster, db.name)


def _answers(db: LedgerDatabase) -> list:
    with psycopg.connect(db.reader_dsn) as conn:
        return [recomputed_balances(conn, as_of=T0 + timedelta(hours=h)) for h in (0, 5, 30, 50, 80)]


def test_an_old_ledger_upgrades_in_place_with_its_data_and_guards(upgraded):
    db, before, before_balances, ran = upgraded
    assert ran == ["0002_from_stacked_migrations", "0003_recording_service", "0004_audit_db_user", "0006_tamper_evidence",
                   "0007_entries_by_month", "0009_chain_record_format_2", "0010_anchor_gaps_window",
                   "0011_move_outcomes", "0012_derived_lock_version", "0013_batch_balance_deltas",
                   "0014_balance_row_rules", "0015_transaction_and_entry_row_rules",
                   "0016_one_insert_trigger_on_transactions"]
    assert (ledger_rows(db.dsn), table_rows(db.dsn)) == before
    assert scalar(db.dsn, "SELECT count(*) FROM ledger.audit_log WHERE db_user IS NOT NULL "
                          "AND action <> 'schema.migrated'") == 0  # not made up
    assert scalar(db.dsn, "SELECT after FROM ledger.audit_log WHERE action = 'schema.migrated'") == {
        "migrations": ran, "functions": True}
    # 0007: every entry in the partition of its month, each partition with the guards and indexes of a new one's
    assert scalar(db.dsn, """
        SELECT count(*) FROM ledger.entries
         WHERE tableoid::regclass::text <> 'ledger_partitions.entries_' || to_char(effective_at AT TIME ZONE 'UTC', 'YYYY_MM')""") == 0
    assert {facts[1:] for facts in partitions(db.dsn).values()} == {PARTITION_GUARDS}
    assert scalar(db.dsn, "SELECT count(*) FROM ingest.quarantine WHERE file_path IS NULL AND resolved_transaction_id IS NULL") == 1

    # cached balances, anchors and double entry still equal their recomputation from the entries
    for check in (cache_drift, anchors_match, balanced_transactions_ledger):
        result = check(db.reader_dsn)
        assert result.passed and result.checked_rows > 0, result.as_json()
    with psycopg.connect(db.reader_dsn) as conn:
        assert _answers(db) == before_balances
        for hours in (0, 5, 30, 50, 80):  # answered from the old anchors, upgraded
            at = T0 + timedelta(hours=hours)
            assert balances(conn, as_of=at) == recomputed_balances(conn, as_of=at)

    # the guards refuse what they refused (and what the rules of 0.1.0's last schema refuse)
    fund = scalar(db.dsn, "SELECT transaction_id::text FROM ledger.transactions WHERE idempotency_key = 'fund'")
    refusals = {
        "UPDATE ledger.entries SET amount = amount + 1": (db.writer_dsn, "42501"),
        "DELETE FROM ledger.entries": (db.dsn, "LDG02"),
        f"UPDATE ledger.transactions SET description = 'x' WHERE transaction_id = '{fund}'": (db.dsn, "LDG03"),
        f"UPDATE ledger.transactions SET status = 'archived', archived_at = now() WHERE transaction_id = '{fund}'": (db.writer_dsn, "LDG04"),
        "DELETE FROM ledger.audit_log": (db.dsn, "LDG02"),
        "UPDATE ledger.balances SET posted_debits = 0": (db.writer_dsn, "42501"),
        "DELETE FROM ledger.balance_anchors": (db.writer_dsn, "42501"),
        "INSERT INTO ledger.account_types VALUES ('Equity2', 'credit')": (db.dsn, "23514"),
        # 0025's rule on a database that never had 0025: 'e' + combining acute accent is not NFC
        "INSERT INTO ledger.accounts (account_id, code, normal_balance) "
        "VALUES (ledger.account_id_of('assets:cafe\u0301'), 'assets:cafe\u0301', 'debit')": (db.writer_dsn, "23514"),
        "INSERT INTO ledger.categories (code, kind) VALUES ('plan:\u200bpro', 'group')": (db.writer_dsn, "23514"),
    }
    for statement, (dsn, sqlstate) in refusals.items():
        assert attempt(dsn, statement).sqlstate == sqlstate, statement
    unbalanced = str(uuid.uuid4())
    assert attempt(db.writer_dsn, insert_transaction_sql(unbalanced, "unbalanced", effective_at=T0),
                   insert_entry_sql(unbalanced, 0, "assets:cash", "debit", 5, "USD", effective_at=T0)).sqlstate == "LDG01"
    with writer_ledger(db) as ledger, pytest.raises(LedgerError):
        ledger.post(transfer("in-february", "assets:cash", "equity:capital", 1, at=datetime(2024, 2, 20, tzinfo=UTC)))
    assert ledger_rows(db.dsn) == before[0]

    # and it takes new postings, moves and reversals, through the API and the caches
    with writer_ledger(db) as ledger:
        ledger.post(transfer("after-upgrade", "assets:cash", "equity:capital", 123, at=T0 + timedelta(days=3)))
        ledger.move("hold-3", "posted", at=T0 + timedelta(days=3))
        ledger.reverse("after-upgrade", idempotency_key="after-upgrade-reversed", effective_at=T0 + timedelta(days=3))
    for check in (cache_drift, anchors_match):
        assert check(db.reader_dsn).passed
    assert migrate(db.dsn) == []

    # the history that was there is sealed in the genesis link, what came after in the next ones
    with psycopg.connect(db.reader_dsn) as conn:
        genesis = conn.execute("SELECT transactions FROM ledger.chain WHERE link_no = 1").fetchone()[0]
        assert genesis == len(before[0]["transactions"]) > 0
        result = verify(conn)
        assert result.passed and result.head.unsealed_transactions == 0
        assert result.head.sealed_transactions == scalar(db.dsn, "SELECT count(*) FROM ledger.transactions")


def test_an_upgraded_ledger_has_the_schema_of_a_new_one(upgraded, pg_cluster):
    db = upgraded[0]
    fresh = make_database(pg_cluster)
    try:
        upgraded_schema = schema_dump(db)
        assert "CREATE TABLE ledger.entries" in upgraded_schema and "CREATE TRIGGER" in upgraded_schema
        assert upgraded_schema == schema_dump(fresh)
    finally:
        drop_database(pg_cluster, fresh.name)


def test_0012_derives_lock_version_and_keeps_every_version_a_client_may_hold(pg_cluster):
    """0012 drops accounts.lock_version for the sum of the balances' versions. Where a hand-edited
    balance made the sum lower than the stored counter, the sum is raised to it (a version a client
    holds must not come back); where higher, it stays (the client is refused once and re-reads); an
    account with a version but no balance row stops the upgrade and is named."""
    db = stacked_database(pg_cluster, STACKED["0.1.0"])
    try:
        create_accounts(db.writer_dsn, [("assets:cash", "debit", None), ("equity:capital", "credit", None),
                                        ("revenue:sales", "credit", None)])
        for n, currency in enumerate(("USD", "EUR", "USD")):
            post_raw(db.writer_dsn, f"p{n}", [("assets:cash", "debit", 10, currency), ("equity:capital", "credit", 10, currency)])
        stored = dict(scalar(db.dsn, "SELECT array_agg(ARRAY[code, lock_version::text]) FROM ledger.accounts"))
        assert stored == {"assets:cash": "3", "equity:capital": "3", "revenue:sales": "0"}
        with psycopg.connect(db.dsn) as conn:  # the owner edits the cache by hand, as 0.1.0 let it
            conn.execute("UPDATE ledger.balances SET version = version - 2 "
                         "WHERE account_id = ledger.account_id_of('assets:cash') AND currency = 'USD'")
            conn.execute("UPDATE ledger.balances SET version = version + 4 WHERE account_id = ledger.account_id_of('equity:capital')")
            conn.execute("UPDATE ledger.accounts SET lock_version = 1 WHERE code = 'revenue:sales'")
        with pytest.raises(psycopg.Error, match="no balance row: revenue:sales \\(stored 1\\)"):
            migrate(db.dsn)
        assert scalar(db.dsn, "SELECT lock_version FROM ledger.accounts WHERE code = 'assets:cash'") == 3  # untouched
        with psycopg.connect(db.dsn) as conn:
            conn.execute("INSERT INTO ledger.balances (account_id, currency, version) "
                         "VALUES (ledger.account_id_of('revenue:sales'), 'USD', 1)")
        assert "0012_derived_lock_version" in migrate(db.dsn)
        derived = dict(scalar(db.dsn, "SELECT array_agg(ARRAY[code, ledger.lock_version(account_id)::text]) FROM ledger.accounts"))
        assert derived == {"assets:cash": "3", "equity:capital": "11", "revenue:sales": "1"}
        assert scalar(db.dsn, "SELECT count(*) FROM information_schema.columns "
                              "WHERE table_schema = 'ledger' AND table_name = 'accounts' AND column_name = 'lock_version'") == 0
        with writer_ledger(db) as ledger:
            with pytest.raises(LedgerError, match="expected lock_version 2, it is 3"):
                ledger.post(transfer("stale", "assets:cash", "equity:capital", 1, debit_version=2))
            posted = ledger.post(transfer("fresh", "assets:cash", "equity:capital", 1, debit_version=3, credit_version=11))
        assert {b.account: b.lock_version for b in posted.balances} == {"assets:cash": 4, "equity:capital": 12}
    finally:
        drop_database(pg_cluster, db.name)


def test_a_ledger_older_than_0_1_0_last_schema_is_refused_untouched(pg_cluster, tmp_path):
    """A development database without 0020..0024 is not guessed at: migrate says what to do."""
    for migration in sorted((FIXTURES / "schema_f282fcf").glob("000*.sql")) + [FIXTURES / "schema_f282fcf" / "0010_ingest.sql"]:
        (tmp_path / migration.name).write_text(migration.read_text())
    db = stacked_database(pg_cluster, [tmp_path])
    try:
        with pytest.raises(MigrationError, match="0020_balance_anchors"):
            migrate(db.dsn)
        applied = scalar(db.dsn, "SELECT array_agg(migration_id ORDER BY migration_id) FROM _yoyo_migration")
        assert BASELINE not in applied and len(applied) == 6
    finally:
        drop_database(pg_cluster, db.name)


def test_a_changed_function_file_is_applied_by_the_next_migrate_and_only_then(ledger_db, monkeypatch):
    def applied_at():
        return scalar(ledger_db.dsn, "SELECT applied_at FROM _subledger_functions")

    first = applied_at()
    assert migrate(ledger_db.dsn) == [] and applied_at() == first  # nothing new: nothing re-applied
    comment = "\nCOMMENT ON FUNCTION ledger.normal_balance_of(text) IS 'v2';"
    changed = [(name, text + comment if name == "ledger.normal_balance_of.sql" else text)
               for name, text in migrate_module.function_files()]
    monkeypatch.setattr(migrate_module, "function_files", lambda: changed)
    assert migrate(ledger_db.dsn) == []
    assert scalar(ledger_db.dsn, "SELECT obj_description('ledger.normal_balance_of(text)'::regprocedure)") == "v2"
    assert applied_at() > first
