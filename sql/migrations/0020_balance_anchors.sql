-- depends: 0005_locking_and_period_close
--
-- Balance anchors: exact balances of an account/currency at an instant, as the ledger stood at a
-- recorded Postgres snapshot (the watermark). The warehouse writes them from its snapshot
-- computation (ledger_pipelines/warehouse/anchors.py); balance_at (sql/ledger/balance_at.sql)
-- answers "balance as of T [known at S]" from the latest anchor before T plus the few entries
-- whose contribution differs between the anchor and T. docs/warehouse.md, "Anchors and
-- watermarks", has the argument why the delta below is complete.
--
-- Anchors are a cache: deleting them all only makes balance_at fall back to the full history of
-- the account (still exact). They are never part of the ledger's invariants.

-- One row per snapshot computation that wrote anchors.
CREATE TABLE ledger.balance_anchor_runs (
    run_id        uuid PRIMARY KEY,
    -- What the computation saw: pg_current_snapshot() of the mirror read it was computed from.
    snapshot      pg_snapshot NOT NULL,
    -- pg_snapshot_xmin(snapshot): every changed_xid below it is visible in the snapshot, so the
    -- transactions the anchor did not see are found by an index range scan from here.
    snapshot_xmin xid8 NOT NULL,
    -- Wall time taken right after the snapshot: everything visible in it was created and moved
    -- before this instant (known-at eligibility: an anchor serves --known-at S only if taken_at <= S).
    taken_at      timestamptz NOT NULL,
    -- The days (in `timezone`) the run computed, and the end of the last one. Every lifecycle move
    -- the run saw on a day it computed left an end-of-day anchor on that day.
    first_day     date NOT NULL,
    last_day      date NOT NULL,
    covered_until timestamptz NOT NULL,
    timezone      text NOT NULL,
    computed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (first_day <= last_day)
);

CREATE TABLE ledger.balance_anchors (
    account_id      uuid NOT NULL,
    currency        text NOT NULL,
    anchor_at       timestamptz NOT NULL,
    run_id          uuid NOT NULL REFERENCES ledger.balance_anchor_runs (run_id),
    -- Sums at anchor_at as seen by the run's snapshot (the ledger.balances columns' meaning).
    posted_debits   bigint NOT NULL CHECK (posted_debits >= 0),
    posted_credits  bigint NOT NULL CHECK (posted_credits >= 0),
    pending_debits  bigint NOT NULL CHECK (pending_debits >= 0),
    pending_credits bigint NOT NULL CHECK (pending_credits >= 0),
    -- Entries counted (effective_at <= anchor_at), whatever their state: an account/currency is
    -- listed as of T when at least one of its entries counts.
    entry_count     bigint NOT NULL CHECK (entry_count >= 0),
    PRIMARY KEY (account_id, currency, anchor_at)
);
CREATE INDEX balance_anchors_by_time ON ledger.balance_anchors (anchor_at);
CREATE INDEX balance_anchors_by_run ON ledger.balance_anchors (run_id);
COMMENT ON TABLE ledger.balance_anchors IS
    'Derived cache written by the warehouse snapshot computation; balance_at = anchor + delta. Safe to delete.';

-- Set 3 of the balance_at delta: lifecycle moves dated after an anchor. Only moved transactions
-- are indexed (status_changed_at is set by the lifecycle trigger), so direct postings cost nothing.
CREATE INDEX transactions_moves_by_time
    ON ledger.transactions ((coalesce(posted_at, archived_at)))
    WHERE status_changed_at IS NOT NULL;

GRANT SELECT ON ledger.balance_anchor_runs, ledger.balance_anchors TO subledger_reader, subledger_writer;
GRANT INSERT, DELETE ON ledger.balance_anchor_runs, ledger.balance_anchors TO subledger_writer;
