-- ledger.reject_change(): refuses the statement that fires it, with the SQLSTATE and hint given as
-- trigger arguments. Makes tables append-only for every role, the owner included:
--   I2  entries are never updated, deleted or truncated (LDG02);
--   I3  transactions, accounts and categories are never deleted or truncated (LDG03);
--   I8  cached balances are never deleted or truncated (LDG03): their versions make the accounts'
--       lock_version (ledger.lock_version), which only grows;
--   I8  the audit log only grows (LDG02);
--   I10 the history of period closes and reopens only grows (LDG02);
--   I15 the hash chain only grows (LDG02).
CREATE OR REPLACE FUNCTION ledger.reject_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = TG_ARGV[0],
        MESSAGE = format('%I.%I is append-only: %s is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP),
        HINT = TG_ARGV[1];
END
$$;

REVOKE ALL ON FUNCTION ledger.reject_change() FROM PUBLIC;

CREATE OR REPLACE TRIGGER entries_are_immutable BEFORE UPDATE OR DELETE ON ledger.entries
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG02', 'To correct a posting, reverse its transaction and post a new one.');
CREATE OR REPLACE TRIGGER entries_are_not_truncated BEFORE TRUNCATE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG02', 'To correct a posting, reverse its transaction and post a new one.');
CREATE OR REPLACE TRIGGER transactions_are_not_deleted BEFORE DELETE ON ledger.transactions
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG03', 'Archive a pending transaction or reverse a posted one.');
CREATE OR REPLACE TRIGGER transactions_are_not_truncated BEFORE TRUNCATE ON ledger.transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG03', 'Archive a pending transaction or reverse a posted one.');
CREATE OR REPLACE TRIGGER accounts_are_not_deleted BEFORE DELETE ON ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG03', 'Accounts are permanent; stop posting to an account instead.');
CREATE OR REPLACE TRIGGER accounts_are_not_truncated BEFORE TRUNCATE ON ledger.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG03', 'Accounts are permanent; stop posting to an account instead.');
CREATE OR REPLACE TRIGGER balances_are_not_deleted BEFORE DELETE ON ledger.balances
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG03', 'A cached balance is corrected in place, never removed: its version is part of its account''s lock_version.');
CREATE OR REPLACE TRIGGER balances_are_not_truncated BEFORE TRUNCATE ON ledger.balances
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG03', 'A cached balance is corrected in place, never removed: its version is part of its account''s lock_version.');
CREATE OR REPLACE TRIGGER categories_are_not_deleted BEFORE DELETE ON ledger.categories
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG03', 'Categories are permanent; remove its members instead.');
CREATE OR REPLACE TRIGGER audit_log_is_immutable BEFORE UPDATE OR DELETE ON ledger.audit_log
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG02', 'The audit log only grows; record a new action instead.');
CREATE OR REPLACE TRIGGER audit_log_is_not_truncated BEFORE TRUNCATE ON ledger.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG02', 'The audit log only grows; record a new action instead.');
CREATE OR REPLACE TRIGGER period_closures_are_immutable BEFORE UPDATE OR DELETE ON ledger.period_closures
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG02', 'Reopen a period by recording a reopen action.');
CREATE OR REPLACE TRIGGER period_closures_are_not_truncated BEFORE TRUNCATE ON ledger.period_closures
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG02', 'Reopen a period by recording a reopen action.');
CREATE OR REPLACE TRIGGER chain_is_append_only BEFORE UPDATE OR DELETE ON ledger.chain
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG02', 'The hash chain only grows; ledger.seal_chain() appends links.');
CREATE OR REPLACE TRIGGER chain_is_not_truncated BEFORE TRUNCATE ON ledger.chain
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG02', 'The hash chain only grows; ledger.seal_chain() appends links.');
