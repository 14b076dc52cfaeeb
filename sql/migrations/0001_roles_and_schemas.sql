-- Roles and schemas of the ledger database.
--
-- Three roles (docs/invariants.md, "Roles"):
--   * the owner   -- whoever runs the migrations; owns every object;
--   * subledger_writer -- inserts ledger rows and moves lifecycles, never updates or deletes them;
--   * subledger_reader -- reads.
-- The embedded cluster creates writer and reader as LOGIN roles with passwords before this runs;
-- on an external server they are created here (NOLOGIN) and used through SET ROLE.
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

REVOKE ALL ON SCHEMA ledger FROM PUBLIC;
GRANT USAGE ON SCHEMA ledger TO subledger_writer, subledger_reader;
