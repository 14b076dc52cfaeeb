-- ledger.accounts_after_update(): keeps I6 after creation -- an account's id, code, normal balance,
-- currency and creation time never change (LDG03) -- and records every metadata change in the audit
-- log (I8). A row trigger whose WHEN clause is a plain comparison of the old and new row, evaluated
-- without calling anything. (Postings do not write accounts: an account's lock_version is derived
-- from its balances, ledger.lock_version, whose versions only grow: balances_after_update.)
CREATE OR REPLACE FUNCTION ledger.accounts_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
BEGIN
    IF (NEW.account_id, NEW.code, NEW.normal_balance, NEW.currency, NEW.created_at)
       IS DISTINCT FROM (OLD.account_id, OLD.code, OLD.normal_balance, OLD.currency, OLD.created_at) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG03',
            MESSAGE = format('account %s: code, normal balance, currency and creation time cannot change', OLD.code),
            HINT = 'Open a new account and move the balance with a journal transaction.';
    END IF;
    INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
    VALUES ('account.metadata_changed', 'account', NEW.code,
            jsonb_build_object('metadata', OLD.metadata), jsonb_build_object('metadata', NEW.metadata));
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ledger.accounts_after_update() FROM PUBLIC;

CREATE OR REPLACE TRIGGER accounts_audit_metadata AFTER UPDATE ON ledger.accounts
    FOR EACH ROW
    WHEN ((NEW.account_id, NEW.code, NEW.normal_balance, NEW.currency, NEW.created_at)
          IS DISTINCT FROM (OLD.account_id, OLD.code, OLD.normal_balance, OLD.currency, OLD.created_at)
          OR NEW.metadata IS DISTINCT FROM OLD.metadata)
    EXECUTE FUNCTION ledger.accounts_after_update();
