"""The incremental anchor check (ledger.expected_anchors: the anchor before + what changed since)
against the entries, on random ledgers: backdated postings, late moves, moves dated between
anchors, anchors of several runs and watermarks. The pair of ledger.recompute_anchors (every
entry), which ``subledger verify`` keeps running; replace_anchors falls back to it only when the
incremental check disagrees, which these tests show happens only when a stored anchor is wrong."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import polars as pl
import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_pipelines.accounting.calendar import end_of_day
from ledger_pipelines.ledger.anchors import ANCHOR_COLUMNS, AnchorRun, replace
from ledger_pipelines.ledger.ids import account_id
from tests.conftest import drop_database, make_database
from tests.warehouse.conftest import build
from tests.warehouse.ledgen import ACCOUNTS, BASE, RandomLedger
from tests.warehouse.reference import load, sums
from tests.warehouse.test_balance_at import LAST, START, history  # the same random histories

EXPECTED = ("SELECT account_id::text, currency, anchor_at, posted_debits, posted_credits, pending_debits, pending_credits, "
            "entry_count FROM ledger.expected_anchors(%(snapshot)s::pg_snapshot, %(account_id)s::uuid[], %(currency)s::text[], "
            "%(anchor_at)s::timestamptz[], %(posted_debits)s::bigint[], %(posted_credits)s::bigint[], "
            "%(pending_debits)s::bigint[], %(pending_credits)s::bigint[], %(entry_count)s::bigint[]) "
            "ORDER BY account_id, currency, anchor_at")


def truth(dsn: str, rng: random.Random) -> pl.DataFrame:
    """Anchors at random instants of every pair -- at, just before and just after the stored
    anchors, and anywhere -- with their sums now, from the independent reference."""
    rows = load(dsn)
    with psycopg.connect(dsn) as conn:
        stored = [r[0].astimezone(UTC) for r in conn.execute("SELECT DISTINCT anchor_at FROM ledger.balance_anchors").fetchall()]
    tick = timedelta(microseconds=1)
    instants = {at + d for at in stored for d in (-tick, timedelta(0), tick)}
    instants |= {BASE + timedelta(seconds=rng.randint(-2 * 86400, 26 * 86400)) for _ in range(40)}
    out = []
    for code in ACCOUNTS:
        for currency in ("USD", "EUR"):
            for at in sorted(rng.sample(sorted(instants), min(len(instants), rng.randint(1, 30)))):
                pd, pc, qd, qc, n = sums(rows, at).get((code, currency), (0, 0, 0, 0, 0))
                out.append((str(account_id(code)), currency, at, pd, pc, qd, qc, n))
    return pl.DataFrame(out, schema=ANCHOR_COLUMNS, orient="row")


def expected(conn: psycopg.Connection, snapshot: str, proposed: pl.DataFrame) -> pl.DataFrame:
    params = {"snapshot": snapshot, **{c: proposed.get_column(c).to_list() for c in ANCHOR_COLUMNS}}
    found = pl.DataFrame(conn.execute(EXPECTED, params).fetchall(), schema=ANCHOR_COLUMNS, orient="row")
    return found.with_columns(pl.col("anchor_at").dt.convert_time_zone("UTC"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    steps=st.lists(st.sampled_from(["post", "backdate", "moves", "anchors", "partial_anchors"]), min_size=2, max_size=6),
)
def test_expected_anchors_equal_the_entries(pg_cluster, files, seed, steps):
    db = make_database(pg_cluster)
    try:
        history(db, files, seed, steps, random.Random(seed))
        rng = random.Random(seed)
        proposed = truth(db.dsn, rng).sort("account_id", "currency", "anchor_at")
        with psycopg.connect(db.reader_dsn) as conn:
            snapshot = conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
            got = expected(conn, snapshot, proposed)
            assert got.height == proposed.height
            differing = got.join(proposed, on=ANCHOR_COLUMNS[:3], suffix="_entries").filter(
                pl.any_horizontal(pl.col(c) != pl.col(f"{c}_entries") for c in ANCHOR_COLUMNS[3:]))
            assert differing.is_empty(), differing
            # one wrong proposal: it disagrees with the anchor before it plus the changes
            k = rng.randrange(proposed.height)
            wrong = proposed.with_columns(
                pl.when(pl.int_range(pl.len()) == k).then(pl.col("pending_credits") + 1).otherwise(pl.col("pending_credits"))
                .alias("pending_credits"))
            assert not expected(conn, snapshot, wrong).row(k) == wrong.row(k)
    finally:
        drop_database(pg_cluster, db.name)
        files.work.unlink(missing_ok=True)


def propose(dsn: str, proposal: pl.DataFrame) -> list[str]:
    """Propose ``proposal`` as the writer over every instant; return the notices the ledger sent."""
    notices: list[str] = []
    with psycopg.connect(dsn) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        snapshot = conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
        run = AnchorRun(run_id=str(uuid.uuid4()), snapshot=snapshot, first_day=START, last_day=LAST,
                        covered_until=datetime(2024, 3, 23, tzinfo=UTC), timezone="UTC",
                        replace_from=datetime(1900, 1, 1, tzinfo=UTC), replace_until=datetime(9000, 1, 1, tzinfo=UTC))
        with conn.transaction():
            assert replace(conn, run, proposal) == proposal.height
    return notices


def test_a_run_is_checked_against_the_stored_anchors_unless_one_is_wrong(ledger_db, files):
    """After backdated postings and late moves, a warehouse run's anchors pass the incremental check
    (no fallback: no notice). Once the owner has changed a stored anchor, a correct run still passes
    -- through the full recomputation -- and the ledger says a stored anchor is wrong."""
    gen = RandomLedger(ledger_db.writer_dsn, seed=5, days=20)
    gen.batch(60, moves=8)
    build(ledger_db, files.work, tz="UTC", start=START, last=LAST, anchor_every=4)
    gen.batch(10, lo_day=1, hi_day=12)
    gen.batch(2, moves=10, lo_day=10, hi_day=18)
    rows = load(ledger_db.dsn)
    with psycopg.connect(ledger_db.dsn) as conn:
        instants = [r[0].astimezone(UTC) for r in conn.execute("SELECT DISTINCT anchor_at FROM ledger.balance_anchors").fetchall()]
    # and the end of every day (a move's day needs an anchor after it)
    instants = sorted(set(instants) | {end_of_day(START + timedelta(days=i), UTC) for i in range((LAST - START).days + 1)})
    proposal = pl.DataFrame(
        [(str(account_id(code)), currency, at, *sums(rows, at).get((code, currency), (0, 0, 0, 0, 0)))
         for code in ACCOUNTS for currency in ("USD", "EUR") for at in instants],
        schema=ANCHOR_COLUMNS, orient="row").sort("account_id", "currency", "anchor_at")
    assert propose(ledger_db.writer_dsn, proposal) == []
    with psycopg.connect(ledger_db.dsn) as conn:  # the owner bypasses ledger.replace_anchors
        conn.execute("UPDATE ledger.balance_anchors SET posted_debits = posted_debits + 3 WHERE anchor_at = %s", [instants[5]])
    notices = propose(ledger_db.writer_dsn, proposal)
    assert len(notices) == 1 and "a stored anchor is wrong" in notices[0]
