-- depends: 0001_roles_and_schemas
--
-- The ledger's tables. Keys are UUIDs computed by the writer (accounts: a hash of the code;
-- transactions: time-ordered UUIDv7) so no global sequence sits on the write path and the ledger
-- can later be hash-partitioned by account_id (docs/architecture.md, "Scaling out").

-- Account code paths: 1..32 ':'-separated segments of 1..64 characters, no control characters.
-- (Written without a bounded-repetition regex, which Postgres evaluates ~100x slower.)
CREATE FUNCTION ledger.is_valid_account_code(code text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN code !~ '[[:cntrl:]]'
       AND cardinality(string_to_array(code, ':')) BETWEEN 1 AND 32
       AND (SELECT bool_and(length(segment) BETWEEN 1 AND 64) FROM unnest(string_to_array(code, ':')) AS segment);

-- The account id of a code: the first 128 bits of SHA-256 of its UTF-8 bytes, as a UUID.
-- Python computes the same (ledger_pipelines.ledger.accounts.account_id).
CREATE FUNCTION ledger.account_id_of(code text) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN substr(encode(sha256(convert_to(code, 'UTF8')), 'hex'), 1, 32)::uuid;

-- Which top-level segment is debit-normal and which credit-normal (configurable: add rows).
CREATE TABLE ledger.account_types (
    top_segment    text PRIMARY KEY,
    normal_balance text NOT NULL CHECK (normal_balance IN ('debit', 'credit'))
);
INSERT INTO ledger.account_types (top_segment, normal_balance) VALUES
    ('assets', 'debit'), ('expenses', 'debit'),
    ('liabilities', 'credit'), ('equity', 'credit'), ('revenue', 'credit'), ('income', 'credit');

CREATE TABLE ledger.accounts (
    account_id     uuid PRIMARY KEY,
    code           text NOT NULL UNIQUE,
    normal_balance text NOT NULL CHECK (normal_balance IN ('debit', 'credit')),
    -- When set, the only currency the account accepts; NULL: one balance per currency seen.
    currency       text CHECK (currency ~ '^[A-Z]{3}$'),
    lock_version   bigint NOT NULL DEFAULT 0 CHECK (lock_version >= 0),
    metadata       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- The code and id rules are checked when an account is created (trigger accounts_valid_on_insert
-- in 0003); afterwards code and id never change (accounts_after_update), so the frequent
-- lock_version bumps do not pay for re-checking them.
COMMENT ON COLUMN ledger.accounts.lock_version IS
    'Optimistic-locking version: grows by one for every entry posted to the account and every entry of it a lifecycle move carries.';

CREATE TABLE ledger.transactions (
    transaction_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key         text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 512),
    status                  text NOT NULL CHECK (status IN ('pending', 'posted', 'archived')),
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
    reverses_transaction_id uuid REFERENCES ledger.transactions (transaction_id),
    -- A business key that later events refer to, e.g. 'payment:pay_42' or 'usage:u_7'.
    reference               text,
    source_event_id         text,
    source_event_type       text,
    batch_id                uuid,
    content_hash            text,
    description             text,
    metadata                jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    -- The source event's context (subscription, customer, amount, payload) for reporting.
    source                  jsonb,
    -- Postgres transaction ids: mirror watermarks and the same-transaction rule for entries.
    created_xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    changed_xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT posted_iff_posted_at CHECK ((status = 'posted') = (posted_at IS NOT NULL)),
    CONSTRAINT archived_iff_archived_at CHECK ((status = 'archived') = (archived_at IS NOT NULL)),
    CONSTRAINT a_transaction_does_not_reverse_itself CHECK (reverses_transaction_id <> transaction_id)
);
-- A transaction is reversed at most once (a reversal may itself be reversed).
CREATE UNIQUE INDEX transactions_reversed_once
    ON ledger.transactions (reverses_transaction_id) WHERE reverses_transaction_id IS NOT NULL;
CREATE UNIQUE INDEX transactions_transition_key
    ON ledger.transactions (transition_key) WHERE transition_key IS NOT NULL;
CREATE INDEX transactions_by_reference ON ledger.transactions (reference) WHERE reference IS NOT NULL;
CREATE INDEX transactions_by_changed_xid ON ledger.transactions (changed_xid);

CREATE TABLE ledger.entries (
    transaction_id uuid NOT NULL,
    entry_no       integer NOT NULL CHECK (entry_no >= 0),
    account_id     uuid NOT NULL,
    direction      text NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount         bigint NOT NULL CHECK (amount > 0),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    effective_at   timestamptz NOT NULL,
    PRIMARY KEY (transaction_id, entry_no)
);
CREATE INDEX entries_by_account ON ledger.entries (account_id, currency, effective_at);
COMMENT ON TABLE ledger.entries IS
    'Immutable legs. Existence of the transaction and account is checked set-based by trigger '
    'ledger.entries_after_insert (a foreign key would check row by row).';

-- Cached balances per account and currency; changed only by triggers, in the same database
-- transaction as the entries or lifecycle move that changes them.
CREATE TABLE ledger.balances (
    account_id      uuid NOT NULL REFERENCES ledger.accounts (account_id),
    currency        text NOT NULL,
    posted_debits   bigint NOT NULL DEFAULT 0 CHECK (posted_debits >= 0),
    posted_credits  bigint NOT NULL DEFAULT 0 CHECK (posted_credits >= 0),
    pending_debits  bigint NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
    pending_credits bigint NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
    version         bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, currency)
);

-- Categories: every prefix of an account code is a 'path' category (made automatically);
-- 'group' categories (plan, region, ...) are configured and may nest through parent_code.
CREATE TABLE ledger.categories (
    code        text PRIMARY KEY CHECK (ledger.is_valid_account_code(code)),
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

-- Append-only audit log of every administrative action.
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
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX audit_log_by_target ON ledger.audit_log (target_type, target_id);

-- Deferred double-entry check: statements that leave some transaction unbalanced record it
-- here; the constraint trigger on commit_checks verifies at commit that all nets are zero.
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
