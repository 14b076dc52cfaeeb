-- Migration 0007, first step: the partitioned ledger.entries beside the old one (renamed), the
-- schema of its partitions and the commit check's tallies, as in sql/schema/ledger.sql.
ALTER TABLE ledger.entries RENAME TO entries_before_0007;
ALTER INDEX ledger.entries_pkey RENAME TO entries_before_0007_pkey;
ALTER INDEX ledger.entries_by_account RENAME TO entries_before_0007_by_account;
-- Its CHECK constraints go (its rows satisfy them; the table is dropped after the copy), so the new
-- table's get the names a new database gives them.
DO $$
DECLARE
    name text;
BEGIN
    FOR name IN SELECT conname FROM pg_constraint
                 WHERE conrelid = 'ledger.entries_before_0007'::regclass AND contype = 'c' LOOP
        EXECUTE format('ALTER TABLE ledger.entries_before_0007 DROP CONSTRAINT %I', name);
    END LOOP;
END
$$;

CREATE TABLE ledger.entries (
    transaction_id uuid NOT NULL,
    entry_no       integer NOT NULL CHECK (entry_no >= 0),
    account_id     uuid NOT NULL,
    direction      text NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount         bigint NOT NULL CHECK (amount > 0),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    effective_at   timestamptz NOT NULL,
    PRIMARY KEY (transaction_id, entry_no, effective_at)
) PARTITION BY RANGE (effective_at);
CREATE INDEX entries_by_account ON ledger.entries (account_id, currency, effective_at);
COMMENT ON TABLE ledger.entries IS
    'Immutable legs, one partition per UTC month of effective_at (ledger_partitions.entries_YYYY_MM). '
    'Existence of the transaction and account is checked set-based by trigger '
    'ledger.entries_after_insert (a foreign key would check row by row).';
GRANT SELECT ON ledger.entries TO subledger_reader, subledger_writer;
GRANT INSERT ON ledger.entries TO subledger_writer;
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

CREATE TABLE ledger.commit_tallies (
    xid          xid8 NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('transactions', 'entries')),
    transactions bigint NOT NULL CHECK (transactions >= 0),
    lowest       uuid,
    highest      uuid
);
CREATE INDEX commit_tallies_by_xid ON ledger.commit_tallies (xid);
