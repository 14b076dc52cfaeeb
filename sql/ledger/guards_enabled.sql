-- Every guard of the ledger is switched on: each trigger of the ledger and ingest tables fires
-- (a trigger the owner disabled -- ALTER TABLE ... DISABLE TRIGGER, or replica-only -- is a row
-- with off = 1), and the DDL audit's event triggers (sql/schema/superuser/ddl_audit.sql) are
-- installed and enabled.
SELECT 'trigger' AS kind, n.nspname || '.' || c.relname || ': ' || t.tgname AS guard,
       CASE t.tgenabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'fires only in replica mode' ELSE 'enabled' END AS state,
       (t.tgenabled NOT IN ('O', 'A'))::int AS off
  FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT t.tgisinternal AND n.nspname IN ('ledger', 'ingest')
UNION ALL
SELECT 'event trigger', w.name,
       CASE WHEN e.evtenabled IS NULL THEN 'not installed' WHEN e.evtenabled = 'D' THEN 'disabled'
            WHEN e.evtenabled = 'R' THEN 'fires only in replica mode' ELSE 'enabled' END,
       (e.evtenabled IS DISTINCT FROM 'O' AND e.evtenabled IS DISTINCT FROM 'A')::int
  FROM (VALUES ('subledger_audit_ddl'), ('subledger_audit_drop')) AS w(name)
  LEFT JOIN pg_event_trigger e ON e.evtname = w.name
 ORDER BY off DESC, kind, guard
