-- ledger.accounts_after_update(): keeps I6 after creation -- an account's code, normal balance,
-- currency and creation time never change and lock_version only grows (LDG03) -- and records every
-- metadata change in the audit log (I8). Set-based (one check per statement, not per row: the
-- lock_version bumps of a batch touch many accounts).
CREATE OR REPLACE FUNCTION ledger.accounts_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    -- Transition tables carry no statistics; a nested loop over two of them is quadratic.
    SET enable_nestloop = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT o.code, o.lock_version AS old_version, n.lock_version AS new_version,
           (n.code, n.normal_balance, n.currency, n.created_at) IS DISTINCT FROM (o.code, o.normal_balance, o.currency, o.created_at) AS identity_changed
      INTO bad
      FROM new_accounts n JOIN old_accounts o USING (account_id)
     WHERE (n.code, n.normal_balance, n.currency, n.created_at) IS DISTINCT FROM (o.code, o.normal_balance, o.currency, o.created_at)
        OR n.lock_version < o.lock_version
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG03',
            MESSAGE = CASE WHEN bad.identity_changed
                           THEN format('account %s: code, normal balance, currency and creation time cannot change', bad.code)
                           ELSE format('account %s: lock_version only grows (%s -> %s)', bad.code, bad.old_version, bad.new_version) END,
            HINT = 'Open a new account and move the balance with a journal transaction.';
    END IF;
    INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
    SELECT 'account.metadata_changed', 'account', n.code,
           jsonb_build_object('metadata', o.metadata), jsonb_build_object('metadata', n.metadata)
      FROM new_accounts n JOIN old_accounts o USING (account_id)
     WHERE n.metadata IS DISTINCT FROM o.metadata;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ledger.accounts_after_update() FROM PUBLIC;

CREATE OR REPLACE TRIGGER accounts_audit_metadata AFTER UPDATE ON ledger.accounts
    REFERENCING OLD TABLE AS old_accounts NEW TABLE AS new_accounts
    FOR EACH STATEMENT WHEN (NOT ledger.accepted_by_posting_call()) EXECUTE FUNCTION ledger.accounts_after_update();
