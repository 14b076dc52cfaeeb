-- ledger.balances_after_update(): a cached balance keeps its key and its version only grows (LDG03):
-- an account's lock_version is the sum of its balances' versions (ledger.lock_version), and a
-- client holding a version must never see it come back. A row trigger whose WHEN clause is a plain
-- comparison of the old and new row: the updates every posting makes match none of it and cost no
-- function call. (Balance rows are never deleted or truncated either: reject_change.)
CREATE OR REPLACE FUNCTION ledger.balances_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'LDG03',
        MESSAGE = CASE WHEN (NEW.account_id, NEW.currency) IS DISTINCT FROM (OLD.account_id, OLD.currency)
                       THEN format('balance of account id %s in %s: its account and currency cannot change', OLD.account_id, OLD.currency)
                       ELSE format('balance of account id %s in %s: version only grows (%s -> %s); it makes the account''s lock_version',
                                   OLD.account_id, OLD.currency, OLD.version, NEW.version) END,
        HINT = 'Correct a cached sum without lowering its version (warehouse check cache_drift has the runbook).';
END
$$;

REVOKE ALL ON FUNCTION ledger.balances_after_update() FROM PUBLIC;

CREATE OR REPLACE TRIGGER balances_version_only_grows BEFORE UPDATE ON ledger.balances
    FOR EACH ROW
    WHEN ((NEW.account_id, NEW.currency) IS DISTINCT FROM (OLD.account_id, OLD.currency) OR NEW.version < OLD.version)
    EXECUTE FUNCTION ledger.balances_after_update();
