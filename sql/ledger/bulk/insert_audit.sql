INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
SELECT action, target_type, target_id, before, after FROM bulk_audit
