-- depends: 0001_baseline
--
-- A database built by the stacked migrations of 0.1.0 (0001_roles_and_schemas ..
-- 0025_account_codes_nfc; at least those of commit f282fcf, which lacked 0011 and 0025) becomes the
-- baseline's. Written to work from either; the functions, triggers and function-owned CHECK
-- constraints come from sql/schema/functions/ right after.

-- 0011: quarantine entries point at their file and at the transaction that resolved them.
ALTER TABLE ingest.quarantine
    ADD COLUMN IF NOT EXISTS file_path text,
    ADD COLUMN IF NOT EXISTS file_sha256 text CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN IF NOT EXISTS file_bytes bigint CHECK (file_bytes >= 0),
    ADD COLUMN IF NOT EXISTS resolved_transaction_id uuid;
GRANT UPDATE (resolved_transaction_id) ON ingest.quarantine TO subledger_writer;

-- 0025 wrote the account-type rule inline; functions/ledger.is_valid_account_type.sql adds it again
-- as a call of that function (NOT VALID, as before: the types already recorded stay).
ALTER TABLE ledger.account_types DROP CONSTRAINT IF EXISTS account_types_are_lower_case;

-- The ledger owns its anchors: only ledger.replace_anchors, which checks them against the entries,
-- writes them. Anchors written before by the warehouse stay; `subledger verify` checks them.
REVOKE INSERT, UPDATE, DELETE ON ledger.balance_anchor_runs, ledger.balance_anchors FROM subledger_writer;
COMMENT ON TABLE ledger.balance_anchors IS
    'Derived cache, written only by ledger.replace_anchors after checking each anchor against the entries; '
    'balance_at = anchor + delta. Safe to delete.';
