-- depends: 0010_ingest
--
-- Quarantine entries point at the file they came from, and a resolved entry at the transaction
-- that resolved it (docs/source-events.md, "Quarantine").
--
-- * file_path, file_sha256, file_bytes: the landed file of the batch (its path when ingested, the
--   sha256 and size of its bytes). A whole file that could not be read, and a line too long to be
--   held in memory, are no longer copied (they were cut at 16 MiB): the entry's raw is empty and
--   these columns say where the bytes are. An entry refused without being read (a symbolic
--   link, a FIFO, ...) has a path but no sha256 or size.
-- * resolved_transaction_id: the ledger transaction of the event that resolved the entry (sent
--   again, posted or pending, or found to be a duplicate of it).
ALTER TABLE ingest.quarantine
    ADD COLUMN file_path text,
    ADD COLUMN file_sha256 text CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN file_bytes bigint CHECK (file_bytes >= 0),
    ADD COLUMN resolved_transaction_id uuid;

GRANT UPDATE (resolved_transaction_id) ON ingest.quarantine TO subledger_writer;
