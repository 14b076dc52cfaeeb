-- ledger.period_closures_guard(): I10. Reopening a closed month changes numbers finance signed off,
-- so only the ledger's owner (or a superuser) may record a 'reopen'; the writer role may close a
-- month but not reopen one (SQLSTATE LDG11), so it cannot reopen, post into a closed month and
-- close it again in one transaction. SECURITY INVOKER on purpose: current_user is the role that
-- inserts (after any SET ROLE), which the writer cannot raise to the owner.
CREATE OR REPLACE FUNCTION ledger.period_closures_guard() RETURNS trigger
    LANGUAGE plpgsql SET search_path = ledger, pg_catalog AS $$
BEGIN
    IF NEW.action = 'reopen'
       AND NOT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'ledger.period_closures'::regclass),
                           'USAGE') THEN
        RAISE EXCEPTION 'role % may not reopen period %', current_user, NEW.period
            USING ERRCODE = 'LDG11',
                  HINT = 'Reopening needs the ledger owner: run `subledger close ' || NEW.period
                         || ' --reopen --reason "..."` (it connects as the owner).';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER period_closures_guard BEFORE INSERT ON ledger.period_closures
    FOR EACH ROW EXECUTE FUNCTION ledger.period_closures_guard();
