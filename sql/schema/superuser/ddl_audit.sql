-- Owner and DDL actions are audited (I16, docs/security.md): an event trigger records every DDL
-- command and every dropped object of this database in ledger.audit_log, in the same transaction
-- -- ALTER TABLE ... DISABLE TRIGGER, CREATE/ALTER/DROP of tables, functions, triggers, GRANT and
-- REVOKE -- with the session's user (db_user), the claimed actor and the statement's text. The
-- writer's temporary tables (the bulk path's staging) are not recorded. Those rows are sealed by
-- the hash chain like every audit row.
--
-- Applied by a superuser (event triggers need one): `subledger up` does it on the embedded
-- cluster after migrating; on an external server a superuser runs this file once per ledger
-- database. Function and schema belong to the superuser, so the ledger's owner can neither
-- replace, drop nor disable them (it is the owner of everything else). What event triggers
-- cannot see (ALTER/CREATE ROLE, ALTER SYSTEM, SET session_replication_role, a superuser's work)
-- is listed in docs/security.md.
CREATE SCHEMA IF NOT EXISTS subledger_audit;
REVOKE ALL ON SCHEMA subledger_audit FROM PUBLIC;

CREATE OR REPLACE FUNCTION subledger_audit.record_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_EVENT = 'sql_drop' THEN
        INSERT INTO ledger.audit_log (action, target_type, target_id, after)
        SELECT 'schema.dropped', lower(d.object_type), coalesce(d.object_identity, d.object_name, '?'),
               jsonb_build_object('command_tag', TG_TAG, 'statement', left(current_query(), 4000))
          FROM pg_event_trigger_dropped_objects() d
         WHERE NOT d.is_temporary AND d.original;
    ELSE
        INSERT INTO ledger.audit_log (action, target_type, target_id, after)
        SELECT 'schema.ddl', lower(c.object_type), coalesce(c.object_identity, c.command_tag),
               jsonb_build_object('command_tag', c.command_tag, 'statement', left(current_query(), 4000))
          FROM pg_event_trigger_ddl_commands() c
         WHERE c.schema_name IS NULL OR c.schema_name NOT LIKE 'pg\_temp%';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION subledger_audit.record_ddl() FROM PUBLIC;

DROP EVENT TRIGGER IF EXISTS subledger_audit_ddl;
CREATE EVENT TRIGGER subledger_audit_ddl ON ddl_command_end EXECUTE FUNCTION subledger_audit.record_ddl();
DROP EVENT TRIGGER IF EXISTS subledger_audit_drop;
CREATE EVENT TRIGGER subledger_audit_drop ON sql_drop EXECUTE FUNCTION subledger_audit.record_ddl();
