-- The ledger's Postgres schema as it is now: roles, the schema `ledger`, its tables, indexes,
-- views and grants, in the order a reader needs them. Functions and the triggers and CHECK
-- constraints that call them are in sql/schema/functions/, one file per function, applied after
-- this file (and after every migration). docs/invariants.md says which function keeps which
-- invariant; docs/architecture.md ("Postgres schema and migrations") how this file and the
-- migrations stay in step.
--
-- Keys are UUIDs computed by the writer (accounts: a hash of the code; transactions: time-ordered
-- UUIDv7), so no global sequence sits on the write path and the ledger can be partitioned later.

-- ---------------------------------------------------------------------------------------------
-- Roles (invariant I7)
--   * the owner: whoever applies this file; owns every object;
--   * subledger_writer: inserts ledger rows and moves lifecycles, never updates or deletes them;
--   * subledger_reader: reads.
-- The embedded cluster creates writer and reader as LOGIN roles with passwords first; on an
-- external server they are created here (NOLOGIN) and used through SET ROLE.
-- ---------------------------------------------------------------------------------------------
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'subledger_writer') THEN
        CREATE ROLE subledger_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'subledger_reader') THEN
        CREATE ROLE subledger_reader NOLOGIN;
    END IF;
    IF NOT pg_has_role(current_user, 'subledger_writer', 'MEMBER') THEN
        EXECUTE format('GRANT subledger_writer TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'subledger_reader', 'MEMBER') THEN
        EXECUTE format('GRANT subledger_reader TO %I', current_user);
    END IF;
END
$$;

CREATE SCHEMA ledger;
COMMENT ON SCHEMA ledger IS
    'The immutable double-entry ledger: accounts, transactions, entries, cached balances, audit log.';
GRANT USAGE ON SCHEMA ledger TO subledger_writer, subledger_reader;

-- ---------------------------------------------------------------------------------------------
-- Account types: which top-level segment of an account code is debit-normal and which
-- credit-normal. Configurable by the owner (the posting rules' account_types add rows).
-- top_segment must be one valid lower-case segment for rows added from now on: CHECK
-- account_types_are_lower_case, in functions/ledger.is_valid_account_type.sql.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ledger.account_types (
    top_segment    text PRIMARY KEY,
    normal_balance text NOT NULL CHECK (normal_balance IN ('debit', 'credit'))
);
INSERT INTO ledger.account_types (top_segment, normal_balance) VALUES
    ('assets', 'debit'), ('expenses', 'debit'),
    ('liabilities', 'credit'), ('equity', 'credit'), ('revenue', 'credit'), ('income', 'credit');
GRANT SELECT ON ledger.account_types TO subledger_reader, subledger_writer;

-- ---------------------------------------------------------------------------------------------
-- Accounts (I6). The code rule, the id (ledger.account_id_of(code)) and the type's normal balance
-- are checked when an account is created (accounts_valid_on_insert); afterwards code, id, normal
-- balance and currency never change (accounts_after_update). Postings do not write an account: its
-- lock_version is derived from its balances (ledger.lock_version; migration 0012 dropped the
-- counter this table kept).
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ledger.accounts (
    account_id     uuid PRIMARY KEY,
    code           text NOT NULL UNIQUE,
    normal_balance text NOT NULL CHECK (normal_balance IN ('debit', 'credit')),
    -- When set, the only currency the account accepts; NULL: one balance per currency seen.
    currency       text CHECK (currency ~ '^[A-Z]{3}$'),
    metadata       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at     timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON ledger.accounts TO subledger_reader, subledger_writer;
GRANT INSERT (account_id, code, normal_balance, currency, metadata) ON ledger.accounts TO subledger_writer;
GRANT UPDATE (metadata) ON ledger.accounts TO subledger_writer;

-- ---------------------------------------------------------------------------------------------
-- Transactions (I3, I4, I11). Only the lifecycle columns of a pending transaction ever change
-- (transactions_before_update); reversals are checked set-based at insert
-- (transactions_after_insert), which is as strong as a foreign key because transactions are never
-- deleted and reverses_transaction_id never changes.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ledger.transactions (
    transaction_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key         text NOT NULL UNIQUE,
    status                  text NOT NULL,
    effective_at            timestamptz NOT NULL,
    -- System time: when the ledger learned of the transaction (bitemporal "known at").
    created_at              timestamptz NOT NULL DEFAULT now(),
    -- Business time of the lifecycle move (the settling event's effective_at), or effective_at
    -- for a transaction posted directly.
    posted_at               timestamptz,
    archived_at             timestamptz,
    -- System time of the lifecycle move, and the idempotency key of the move.
    status_changed_at       timestamptz,
    transition_key          text,
    transition_hash         text,
    reverses_transaction_id uuid,
    -- A business key that later events refer to, e.g. 'payment:pay_42' or 'usage:u_7'.
    reference               text,
    source_event_id         text,
    source_event_type       text,
    batch_id                uuid,
    content_hash            text,
    description             text,
    metadata                jsonb NOT NULL DEFAULT '{}',
    -- The source event's context (subscription, customer, amount, payload) for reporting.
    source                  jsonb,
    -- Postgres transaction ids: mirror watermarks and the same-transaction rule for entries.
    created_xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    changed_xid             xid8 NOT NULL DEFAULT pg_current_xact_id()
    -- The row's own rules (key length, status, metadata an object, posted iff posted_at, archived
    -- iff archived_at, no self-reversal): functions/ledger.transaction_row_problem.sql, checked by
    -- the insert and lifecycle triggers and by ledger.post_transaction, not as CHECKs (migration 0015).
);
-- A transaction is reversed at most once (a reversal may itself be reversed).
CREATE UNIQUE INDEX transactions_reversed_once
    ON ledger.transactions (reverses_transaction_id) WHERE reverses_transaction_id IS NOT NULL;
CREATE UNIQUE INDEX transactions_transition_key
    ON ledger.transactions (transition_key) WHERE transition_key IS NOT NULL;
CREATE INDEX transactions_by_reference ON ledger.transactions (reference) WHERE reference IS NOT NULL;
-- What changed since a watermark (mirror, anchors): created or moved after a snapshot's xmin.
CREATE INDEX transactions_by_changed_xid ON ledger.transactions (changed_xid);
-- Lifecycle moves by their business time (balance_at's third delta set). Only moved transactions
-- are indexed (status_changed_at is set by the lifecycle trigger), so direct postings cost nothing.
CREATE INDEX transactions_moves_by_time
    ON ledger.transactions ((coalesce(posted_at, archived_at)))
    WHERE status_changed_at IS NOT NULL;
-- Column grants leave the system columns (created_at, created_xid, changed_xid,
-- status_changed_at) to the database.
GRANT SELECT ON ledger.transactions TO subledger_reader, subledger_writer;
GRANT INSERT (transaction_id, idempotency_key, status, effective_at, posted_at, reverses_transaction_id,
              reference, source_event_id, source_event_type, batch_id, content_hash, description,
              metadata, source)
    ON ledger.transactions TO subledger_writer;
GRANT UPDATE (status, posted_at, archived_at, transition_key, transition_hash) ON ledger.transactions TO subledger_writer;

-- ---------------------------------------------------------------------------------------------
-- Entries (I1, I2, I5, I6): immutable legs, inserted in the database transaction that creates
-- their transaction.
--
-- Range-partitioned by effective_at, one partition per UTC month, so a month's batch writes into
-- small, fresh indexes instead of the middle of one ever-growing tree (bench/floor_bench.py), and
-- a balance as of T reads only the months up to T. The partitions live in schema
-- ledger_partitions, which the writer and reader cannot even name: they read and write through
-- ledger.entries only. Partitions are made by ledger.ensure_entry_partitions (SECURITY DEFINER):
-- ahead of need by every migrate, and on demand for any month a new transaction is dated in, by
-- the transactions' insert trigger -- before any entry of that transaction can be inserted (I5),
-- so no insert fails for lack of a partition, whatever path writes it.
--
-- The primary key holds effective_at because a partitioned table's unique keys must contain the
-- partition key; (transaction_id, entry_no) is still unique, since every entry carries its
-- transaction's effective_at (I5). Lookups by transaction id name the effective time too (the
-- transactions row has it), so they probe one partition.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ledger.entries (
    transaction_id uuid NOT NULL,
    entry_no       integer NOT NULL,
    account_id     uuid NOT NULL,
    direction      text NOT NULL,
    amount         bigint NOT NULL,
    currency       text NOT NULL,
    effective_at   timestamptz NOT NULL,
    PRIMARY KEY (transaction_id, entry_no, effective_at)
    -- The row's own rules (entry number, direction, positive amount, currency): functions/
    -- ledger.entry_row_problem.sql, checked by the insert trigger and ledger.post_transaction, not
    -- as CHECKs (migration 0015).
) PARTITION BY RANGE (effective_at);
CREATE INDEX entries_by_account ON ledger.entries (account_id, currency, effective_at);
COMMENT ON TABLE ledger.entries IS
    'Immutable legs, one partition per UTC month of effective_at (ledger_partitions.entries_YYYY_MM). '
    'Existence of the transaction and account is checked set-based by trigger '
    'ledger.entries_after_insert (a foreign key would check row by row).';
GRANT SELECT ON ledger.entries TO subledger_reader, subledger_writer;
GRANT INSERT ON ledger.entries TO subledger_writer;
-- No USAGE for anyone but the owner: partitions are reached through ledger.entries only.
CREATE SCHEMA ledger_partitions;
REVOKE ALL ON SCHEMA ledger_partitions FROM PUBLIC;
COMMENT ON SCHEMA ledger_partitions IS
    'The monthly partitions of ledger.entries, made by ledger.ensure_entry_partitions; read and written through ledger.entries only.';

-- How the months of entries are laid out: hash_partitions = N > 1 splits every month made from
-- then on into N hash partitions by transaction_id (ledger.ensure_entry_partitions), the local
-- equivalent of distributing entries by transaction_id (docs/scale-out.md, step 2). One row, set
-- by the owner.
CREATE TABLE ledger.entry_partitioning (
    one_row         boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    hash_partitions integer NOT NULL DEFAULT 1 CHECK (hash_partitions BETWEEN 1 AND 64)
);
INSERT INTO ledger.entry_partitioning DEFAULT VALUES;
GRANT SELECT ON ledger.entry_partitioning TO subledger_reader, subledger_writer;

-- ---------------------------------------------------------------------------------------------
-- Cached balances per account and currency (I8): changed only by the SECURITY DEFINER triggers
-- and ledger.lock_balances, in the same database transaction as the entries or lifecycle move
-- that changes them. (No foreign key to accounts: entries_after_insert refuses unknown accounts
-- before it caches, and lock_balances creates rows only for accounts that exist.) A row is never
-- deleted and its version only grows (reject_change, balances_after_update): the versions of an
-- account's rows add up to its lock_version (ledger.lock_version).
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ledger.balances (
    account_id      uuid NOT NULL,
    currency        text NOT NULL,  -- as an entry's (migration 0006)
    posted_debits   bigint NOT NULL DEFAULT 0,
    posted_credits  bigint NOT NULL DEFAULT 0,
    pending_debits  bigint NOT NULL DEFAULT 0,
    pending_credits bigint NOT NULL DEFAULT 0,
    version         bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, currency)
    -- The row's own rules (a currency an entry can have, no negative sum or version): CHECK
    -- balances_row_rules, added by functions/ledger.is_valid_balance_row.sql.
);
COMMENT ON COLUMN ledger.balances.version IS
    'Grows by one for every entry posted to this balance and every entry of it a lifecycle move carries; the sum over an account''s balances is its lock_version (ledger.lock_version).';
GRANT SELECT ON ledger.balances TO subledger_reader, subledger_writer;

-- ---------------------------------------------------------------------------------------------
-- Categories: every prefix of an account code is a 'path' category (made by
-- accounts_after_insert); 'group' categories (plan, region, ...) are configured and may nest
-- through parent_code. Codes follow the account-code rule: CHECK categories_code_check, in
-- functions/ledger.is_valid_account_code.sql.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ledger.categories (
    code        text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('path', 'group')),
    parent_code text REFERENCES ledger.categories (code),
    -- Sign of the category's balances; NULL: its top segment's (path categories), else debit.
    normal_balance text CHECK (normal_balance IN ('debit', 'credit')),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ledger.category_members (
    category_code text NOT NULL REFERENCES ledger.categories (code),
    account_id    uuid NOT NULL REFERENCES ledger.accounts (account_id),
    added_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (category_code, account_id)
);
GRANT SELECT ON ledger.categories, ledger.category_members TO subledger_reader, subledger_writer;
GRANT INSERT (code, kind, parent_code, normal_balance, description) ON ledger.categories TO subledger_writer;
GRANT UPDATE (parent_code, normal_balance, description) ON ledger.categories TO subledger_writer;
GRANT INSERT (category_code, account_id), DELETE ON ledger.category_members TO subledger_writer;

-- ---------------------------------------------------------------------------------------------
-- Audit log (I8): append-only record of every administrative action, written by the triggers
-- and functions of the database in the same database transaction as the action.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ledger.audit_log (
    audit_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL DEFAULT coalesce(nullif(current_setting('subledger.actor', true), ''), session_user),
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    before      jsonb,
    after       jsonb,
    reason      text DEFAULT nullif(current_setting('subledger.reason', true), ''),
    batch_id    uuid DEFAULT nullif(current_setting('subledger.batch_id', true), '')::uuid,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- Who really acted: the database session's user, which no SET changes (actor above is the
    -- name the application gives, e.g. cli:alice). NULL on rows recorded before migration 0004.
    db_user     text DEFAULT session_user
);
CREATE INDEX audit_log_by_target ON ledger.audit_log (target_type, target_id);
-- The rows a chain link seals (ledger.chain_records): those recorded by the xids of its range.
CREATE INDEX audit_log_by_xid ON ledger.audit_log (xid);
-- Nobody but the database writes it: triggers and SECURITY DEFINER functions, which record what
-- happened, not what a caller claims (the writer has no INSERT).
GRANT SELECT ON ledger.audit_log TO subledger_reader, subledger_writer;

-- ---------------------------------------------------------------------------------------------
-- The deferred double-entry check (I1): statements that leave some transaction unbalanced record
-- it in unbalanced_nets (entries_after_insert); one commit_checks row per database transaction
-- arms the deferred constraint trigger balanced_at_commit (check_at_commit), which verifies at
-- commit that every net is zero and every new transaction has entries (from commit_tallies).
-- Only the SECURITY DEFINER triggers touch these tables.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ledger.unbalanced_nets (
    xid            xid8 NOT NULL,
    transaction_id uuid NOT NULL,
    currency       text NOT NULL,
    net            numeric NOT NULL,
    PRIMARY KEY (xid, transaction_id, currency)
);
CREATE TABLE ledger.commit_checks (
    xid xid8 PRIMARY KEY
);
-- Per statement: how many transactions it created (kind 'transactions'), or how many distinct
-- transactions it gave entries to and the range of their ids (kind 'entries'); the commit check
-- compares the totals instead of reading the entries again. Rows of finished database
-- transactions are removed by the next commit check.
CREATE TABLE ledger.commit_tallies (
    xid          xid8 NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('transactions', 'entries')),
    transactions bigint NOT NULL CHECK (transactions >= 0),
    lowest       uuid,
    highest      uuid
);
CREATE INDEX commit_tallies_by_xid ON ledger.commit_tallies (xid);

-- ---------------------------------------------------------------------------------------------
-- A ledger.post_many call's running sums per cached balance (I8), so that the call updates each
-- balance row once, at its end, instead of once per posting (a hot row otherwise gets a new
-- version per posting, which every writer waiting for it walks). post_many adds a zero row per
-- balance it locked; ledger.post_transaction adds its legs to the row of its (account, currency)
-- when one exists for this database transaction and reads balances as the row plus it; post_many
-- applies the sums and deletes its rows before it returns. Unlogged: a row lives only inside the
-- database transaction that made it. Only the owner's functions touch it: a writer cannot add a
-- row, so it cannot make post_transaction leave a balance unwritten.
-- ---------------------------------------------------------------------------------------------
CREATE UNLOGGED TABLE ledger.batch_balance_deltas (
    xid             xid8 NOT NULL,
    account_id      uuid NOT NULL,
    currency        text NOT NULL,
    posted_debits   bigint NOT NULL,
    posted_credits  bigint NOT NULL,
    pending_debits  bigint NOT NULL,
    pending_credits bigint NOT NULL,
    entries         bigint NOT NULL,
    PRIMARY KEY (xid, account_id, currency)
);

-- ---------------------------------------------------------------------------------------------
-- Period close (I10). Append-only history of close/reopen actions; a period is closed while its
-- latest action is 'close'. The instants are fixed when the period is closed (reporting time
-- zone at that moment), so the database needs no time-zone setting to enforce it.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ledger.period_closures (
    closure_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    period     text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    action     text NOT NULL CHECK (action IN ('close', 'reopen')),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    timezone   text NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor      text NOT NULL DEFAULT coalesce(nullif(current_setting('subledger.actor', true), ''), session_user),
    reason     text,
    db_user    text DEFAULT session_user  -- as in ledger.audit_log: who really acted
);
CREATE INDEX period_closures_by_period ON ledger.period_closures (period, at DESC);

CREATE VIEW ledger.closed_periods AS
SELECT period, starts_at, ends_at, timezone, at AS closed_at, actor AS closed_by
  -- the columns the view was first made with, listed (a new column of the table is not the view's)
  FROM (SELECT DISTINCT ON (period) closure_id, period, action, starts_at, ends_at, timezone, at, actor, reason
          FROM ledger.period_closures ORDER BY period, at DESC, closure_id) latest
 WHERE action = 'close';

GRANT SELECT ON ledger.period_closures, ledger.closed_periods TO subledger_reader, subledger_writer;
GRANT INSERT (period, action, starts_at, ends_at, timezone, reason) ON ledger.period_closures TO subledger_writer;

-- ---------------------------------------------------------------------------------------------
-- Balance anchors (I14): exact sums of an account/currency at an instant, as the ledger stood at
-- a recorded Postgres snapshot (the watermark). balance_at (sql/ledger/balance_at.sql) answers
-- "balance as of T [known at S]" from the latest anchor before T plus the few entries whose
-- contribution differs; docs/warehouse.md, "Anchors and watermarks", has the argument. The
-- warehouse proposes anchors; only ledger.replace_anchors writes them, after checking every one
-- against the entries (the writer has no INSERT, UPDATE or DELETE here). Deleting them all only
-- makes balance_at read the whole history of an account (still exact).
-- ---------------------------------------------------------------------------------------------
-- One row per computation that wrote anchors.
CREATE TABLE ledger.balance_anchor_runs (
    run_id        uuid PRIMARY KEY,
    -- What the computation saw: pg_current_snapshot() of the mirror read it was computed from.
    snapshot      pg_snapshot NOT NULL,
    -- pg_snapshot_xmin(snapshot): every changed_xid below it is visible in the snapshot, so the
    -- transactions the anchor did not see are found by an index range scan from here.
    snapshot_xmin xid8 NOT NULL,
    -- When the ledger accepted the run: everything visible in the snapshot was created and moved
    -- before it (known-at eligibility: an anchor serves --known-at S only if taken_at <= S).
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
    'Derived cache, written only by ledger.replace_anchors after checking each anchor against the entries; '
    'balance_at = anchor + delta. Safe to delete.';
GRANT SELECT ON ledger.balance_anchor_runs, ledger.balance_anchors TO subledger_reader, subledger_writer;

-- ---------------------------------------------------------------------------------------------
-- The hash chain (I15): tamper evidence over the ledger's history. Each link seals the records of
-- one range of Postgres transaction ids [from_xid, upto_xid): every transaction created there
-- (with its entries), every lifecycle move made there, every audit-log row written there
-- (ledger.chain_records says exactly what and in which order). upto_xid is the oldest xid still
-- running when the link was sealed, so a link holds only committed rows and every row is sealed
-- exactly once, whatever order transactions commit in. link_hash =
-- sha256(previous link_hash, the link's header, its record digests) (ledger.chain_link_hash).
-- record_ids/record_digests keep each record's digest so `subledger verify` can name the first
-- record that changed. Only ledger.seal_chain (SECURITY DEFINER) appends links; nobody updates or
-- deletes them (chain_is_append_only). docs/security.md has the threat model.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE ledger.chain (
    link_no        bigint PRIMARY KEY CHECK (link_no >= 1),
    from_xid       xid8 NOT NULL UNIQUE,
    upto_xid       xid8 NOT NULL,
    sealed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- How many records of each kind, in record order: transactions, then moves, then audit rows.
    transactions   integer NOT NULL CHECK (transactions >= 0),
    moves          integer NOT NULL CHECK (moves >= 0),
    audit_rows     integer NOT NULL CHECK (audit_rows >= 0),
    record_ids     uuid[] NOT NULL,
    record_digests bytea NOT NULL,
    prev_hash      bytea NOT NULL,
    link_hash      bytea NOT NULL UNIQUE,
    CHECK (from_xid < upto_xid),
    CHECK (cardinality(record_ids) = transactions + moves + audit_rows),
    CHECK (length(record_digests) = 32 * (transactions + moves + audit_rows))
);
GRANT SELECT ON ledger.chain TO subledger_reader, subledger_writer;
