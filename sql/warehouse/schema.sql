-- The DuckDB warehouse (docs/architecture.md, "Warehouse"; docs/warehouse.md). Idempotent.
-- Columns beyond the contract are appended at the end of a table, never renamed.
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE SCHEMA IF NOT EXISTS warehouse_meta;

CREATE TABLE IF NOT EXISTS analytics.accounts (
    account_id     VARCHAR NOT NULL,
    account        VARCHAR NOT NULL,
    normal_balance VARCHAR NOT NULL,
    currency       VARCHAR,
    metadata       JSON,
    created_at     TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS analytics.categories (
    category        VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,
    parent_category VARCHAR,
    normal_balance  VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS analytics.account_categories (
    category VARCHAR NOT NULL,
    account  VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS analytics.transactions (
    transaction_id          VARCHAR NOT NULL,
    idempotency_key         VARCHAR NOT NULL,
    status                  VARCHAR NOT NULL,
    effective_at            TIMESTAMPTZ NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    posted_at               TIMESTAMPTZ,
    archived_at             TIMESTAMPTZ,
    status_changed_at       TIMESTAMPTZ,
    reverses_transaction_id VARCHAR,
    reference               VARCHAR,
    source_event_id         VARCHAR,
    event_type              VARCHAR,
    batch_id                VARCHAR,
    description             VARCHAR,
    metadata                JSON,
    source                  JSON,
    -- additions: Postgres xids (watermarks, restatement attribution) and the batch of the move
    created_xid             UBIGINT NOT NULL,
    changed_xid             UBIGINT NOT NULL,
    changed_batch_id        VARCHAR,
    -- additions: what the mirror computes once for the reports (macro transaction_fields)
    effective_date          DATE,        -- days in the reporting time zone
    posted_date             DATE,
    archived_date           DATE,
    posting_at              TIMESTAMPTZ, -- posted: when its entries count as posted (the later of effective and posted)
    posting_date            DATE,
    subscription_id         VARCHAR,     -- the source event's envelope (source)
    customer_id             VARCHAR,
    source_amount           BIGINT,
    source_currency         VARCHAR,
    invoice_id              VARCHAR,     -- its payload
    plan_id                 VARCHAR,
    payment_id              VARCHAR,     -- or the id of the payment its reference names ('payment:<id>')
    is_payment              BOOLEAN,     -- a payment: payment.initiated, or a reference 'payment:<id>'
    credit_id               VARCHAR,
    period_start            DATE,
    period_end              DATE,
    reason                  VARCHAR,     -- metadata failure_reason, else payload reason, else metadata reason
    region                  VARCHAR      -- metadata region
);

CREATE TABLE IF NOT EXISTS analytics.entries (
    transaction_id VARCHAR NOT NULL,
    entry_no       INTEGER NOT NULL,
    account_id     VARCHAR NOT NULL,
    account        VARCHAR,
    direction      VARCHAR NOT NULL,
    amount         BIGINT NOT NULL,
    currency       VARCHAR NOT NULL,
    effective_at   TIMESTAMPTZ NOT NULL,
    effective_date DATE NOT NULL
);

CREATE TABLE IF NOT EXISTS analytics.account_balance_snapshots (
    account             VARCHAR NOT NULL,
    currency            VARCHAR NOT NULL,
    as_of_date          DATE NOT NULL,
    normal_balance      VARCHAR NOT NULL,
    posted              BIGINT NOT NULL,
    pending             BIGINT NOT NULL,
    available           BIGINT NOT NULL,
    posted_debits       BIGINT NOT NULL,
    posted_credits      BIGINT NOT NULL,
    pending_debits      BIGINT NOT NULL,
    pending_credits     BIGINT NOT NULL,
    day_posted_debits   BIGINT NOT NULL,
    day_posted_credits  BIGINT NOT NULL,
    day_pending_debits  BIGINT NOT NULL,
    day_pending_credits BIGINT NOT NULL,
    day_entry_count     BIGINT NOT NULL,
    -- additions
    entry_count         BIGINT NOT NULL,  -- entries counted so far (effective on or before the day)
    day_move_count      BIGINT NOT NULL,  -- entries whose pending transaction was posted/archived that day
    account_id          VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS analytics.category_balance_snapshots (
    category            VARCHAR NOT NULL,
    currency            VARCHAR NOT NULL,
    as_of_date          DATE NOT NULL,
    normal_balance      VARCHAR NOT NULL,
    posted              BIGINT NOT NULL,
    pending             BIGINT NOT NULL,
    available           BIGINT NOT NULL,
    posted_debits       BIGINT NOT NULL,
    posted_credits      BIGINT NOT NULL,
    pending_debits      BIGINT NOT NULL,
    pending_credits     BIGINT NOT NULL,
    day_posted_debits   BIGINT NOT NULL,
    day_posted_credits  BIGINT NOT NULL,
    day_pending_debits  BIGINT NOT NULL,
    day_pending_credits BIGINT NOT NULL,
    day_entry_count     BIGINT NOT NULL,
    -- additions
    entry_count         BIGINT NOT NULL,
    day_move_count      BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS analytics.restatements (
    batch_id      VARCHAR,
    scope         VARCHAR NOT NULL,   -- 'account' | 'category'
    key           VARCHAR NOT NULL,   -- the account or category code
    currency      VARCHAR NOT NULL,
    as_of_date    DATE NOT NULL,
    old_posted    BIGINT NOT NULL,
    new_posted    BIGINT NOT NULL,
    old_pending   BIGINT NOT NULL,
    new_pending   BIGINT NOT NULL,
    old_available BIGINT NOT NULL,
    new_available BIGINT NOT NULL,
    restated_at   TIMESTAMPTZ NOT NULL,
    -- additions
    run_id        VARCHAR NOT NULL    -- the snapshot computation that restated it
);

-- The mirror's watermark: the Postgres snapshot its contents equal (one row).
CREATE TABLE IF NOT EXISTS warehouse_meta.mirror_state (
    snapshot    VARCHAR NOT NULL,     -- pg_snapshot text 'xmin:xmax:xip,...'
    taken_at    TIMESTAMPTZ NOT NULL, -- wall time right after the snapshot was taken
    mirrored_at TIMESTAMPTZ NOT NULL,
    timezone    VARCHAR NOT NULL,     -- the zone analytics.entries.effective_date is in
    runs        BIGINT NOT NULL
);

-- What each derived product was last built from (docs/warehouse.md, "Freshness"): the mirror
-- watermark it reflects, the last day it covers and the settings it depends on. Anything whose
-- watermark is behind its input's is stale and is rebuilt by the next run, whatever interrupted
-- the previous one. One row per product: 'account_snapshots', 'category_snapshots', 'reports'.
CREATE TABLE IF NOT EXISTS warehouse_meta.builds (
    product         VARCHAR NOT NULL,
    watermark       VARCHAR NOT NULL,  -- the mirror's pg_snapshot text when it was built
    last_day        DATE,              -- the last day it covers (reporting time zone)
    timezone        VARCHAR NOT NULL,
    start_date      DATE NOT NULL,
    fingerprint     VARCHAR NOT NULL,  -- what else it depends on (category membership), '' if nothing
    first_written   DATE,              -- the first day the last build (re)wrote
    run_id          VARCHAR NOT NULL,
    built_at        TIMESTAMPTZ NOT NULL
);

-- Files written by earlier versions: one row per computed day, replaced by warehouse_meta.builds.
DROP TABLE IF EXISTS warehouse_meta.snapshot_days;
DROP TABLE IF EXISTS warehouse_meta.snapshot_settings;

-- Additions to tables of earlier versions (CREATE TABLE IF NOT EXISTS does not add columns).
-- Every batch that caused a restated row (batch_id is the first of them; one row per restated row).
ALTER TABLE analytics.restatements ADD COLUMN IF NOT EXISTS batch_ids VARCHAR[];
-- A fingerprint of the ledger's categories, memberships, account types and accounts at the watermark.
ALTER TABLE warehouse_meta.mirror_state ADD COLUMN IF NOT EXISTS ledger_fingerprint VARCHAR;
-- What the mirror computes once per transaction (NULL in rows an earlier version mirrored: the
-- next mirror run fills them, sql/warehouse/mirror/derive_transactions.sql).
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS effective_date DATE;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS posted_date DATE;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS archived_date DATE;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS posting_at TIMESTAMPTZ;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS posting_date DATE;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS subscription_id VARCHAR;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS customer_id VARCHAR;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS source_amount BIGINT;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS source_currency VARCHAR;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS invoice_id VARCHAR;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS plan_id VARCHAR;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS payment_id VARCHAR;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS is_payment BOOLEAN;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS credit_id VARCHAR;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS period_start DATE;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS period_end DATE;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS reason VARCHAR;
ALTER TABLE analytics.transactions ADD COLUMN IF NOT EXISTS region VARCHAR;
