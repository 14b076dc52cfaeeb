-- ledger.accounts_after_update(): keeps I6 after creation -- an account's id, code, normal balance,
-- currency and creation time never change and lock_version only grows (LDG03) -- and records every
-- metadata change in the audit log (I8). A row trigger whose WHEN clause is a plain comparison of the
-- old and new row, evaluated without calling anything: the frequent lock_version bumps (every
-- posting, every entry of a batch, every move) match none of it and cost no function call and no
-- transition table; only an identity change, a shrinking lock_version or a metadata change reaches
-- the function.
CREATE OR REPLACE FUNCTION ledger.accounts_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
BEGIN
    IF (NEW.account_id, NEW.code, NEW.normal_balance, NEW.currency, NEW.created_at)
       IS DISTINCT FROM (OLD.account_id, OLD.code, OLD.normal_balance, OLD.currency, OLD.created_at)
       OR NEW.lock_version < OLD.lock_version THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG03',
            MESSAGE = CASE WHEN NEW.lock_version >= OLD.lock_version
                           THEN format('account %s: code, normal balance, currency and creation time cannot change', OLD.code)
                           ELSE format('account %s: lock_version only grows (%s -> %s)', OLD.code, OLD.lock_version, NEW.lock_version) END,
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
          OR NEW.lock_version < OLD.lock_version OR NEW.metadata IS DISTINCT FROM OLD.metadata)
    EXECUTE FUNCTION ledger.accounts_after_update();
