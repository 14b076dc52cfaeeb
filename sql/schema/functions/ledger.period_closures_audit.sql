-- ledger.period_closures_audit(): records every close and reopen of a period in the audit log (I8,
-- I10), with its instants, time zone and reason.
CREATE OR REPLACE FUNCTION ledger.period_closures_audit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
BEGIN
    INSERT INTO ledger.audit_log (action, target_type, target_id, after, reason)
    SELECT 'period.' || n.action, 'period', n.period,
           jsonb_build_object('starts_at', n.starts_at, 'ends_at', n.ends_at, 'timezone', n.timezone),
           n.reason
      FROM new_rows n;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ledger.period_closures_audit() FROM PUBLIC;

CREATE OR REPLACE TRIGGER period_closures_audit AFTER INSERT ON ledger.period_closures
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.period_closures_audit();
