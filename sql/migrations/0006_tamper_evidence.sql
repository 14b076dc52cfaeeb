-- depends: 0004_audit_db_user
--
-- Tamper evidence (issue 20, docs/security.md). The hash chain over the ledger's history (I15): the
-- table of sealed links and the index that finds the audit-log rows of an xid range; its functions
-- (ledger.chain_records, ledger.chain_link_hash, ledger.seal_chain) and append-only triggers are in
-- sql/schema/functions/, applied after this, and migrate() then seals everything already recorded
-- into the first (genesis) link. Then balance rows in well-formed currencies only, and the
-- writer's tightened rights.

CREATE TABLE IF NOT EXISTS ledger.chain (
    link_no        bigint PRIMARY KEY CHECK (link_no >= 1),
    from_xid       xid8 NOT NULL UNIQUE,
    upto_xid       xid8 NOT NULL,
    sealed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
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
CREATE INDEX IF NOT EXISTS audit_log_by_xid ON ledger.audit_log (xid);

-- Balance rows only in currencies an entry can have (issue 21: ledger.lock_balances made rows for any
-- text the writer passed). Such rows never held an amount (entries refuse the currency): dropped.
DELETE FROM ledger.balances WHERE currency !~ '^[A-Z]{3}$';
ALTER TABLE ledger.balances DROP CONSTRAINT IF EXISTS balances_currency_check;
ALTER TABLE ledger.balances ADD CONSTRAINT balances_currency_check CHECK (currency ~ '^[A-Z]{3}$');

-- The writer no longer writes the audit log (corrections and replays are recorded by
-- ledger.record_corrections and ingest.resolve_quarantine), nor changes what a batch is or resolves
-- quarantine entries itself; a batch's counts are filled in by the transaction that claimed it.
REVOKE INSERT (action, target_type, target_id, before, after, reason, batch_id) ON ledger.audit_log FROM subledger_writer;
REVOKE UPDATE (resolved_by_batch, resolved_at, resolution, resolved_transaction_id) ON ingest.quarantine FROM subledger_writer;
ALTER TABLE ingest.batches ADD COLUMN IF NOT EXISTS claimed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
REVOKE INSERT, UPDATE ON ingest.batches FROM subledger_writer;
GRANT INSERT (batch_id, source_kind, source_name, content_hash, bytes, outbox_xmin, outbox_xmax) ON ingest.batches
    TO subledger_writer;
GRANT UPDATE (events, posted, pending, duplicate, quarantined, backdated, seconds, effective_dates, reasons, completed_at)
    ON ingest.batches TO subledger_writer;
