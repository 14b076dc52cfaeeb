-- depends: 0004_audit_db_user
--
-- The hash chain over the ledger's history (I15, docs/security.md): the table of sealed links and
-- the index that finds the audit-log rows of an xid range. Its functions (ledger.chain_records,
-- ledger.chain_link_hash, ledger.seal_chain) and append-only triggers are in
-- sql/schema/functions/, applied after this; migrate() then seals everything already recorded
-- into the first (genesis) link.

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
