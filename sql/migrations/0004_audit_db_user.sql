-- depends: 0003_recording_service
--
-- The audit log and the period closures record who really acted: the session's database user,
-- which the writer cannot set (the actor column keeps the name the application gives, which it
-- can). Rows recorded before this keep NULL. Reopening a month needs the owner: the guard is
-- sql/schema/functions/ledger.period_closures_guard.sql, applied after this.

ALTER TABLE ledger.audit_log ADD COLUMN db_user text;
ALTER TABLE ledger.audit_log ALTER COLUMN db_user SET DEFAULT session_user;
ALTER TABLE ledger.period_closures ADD COLUMN db_user text;
ALTER TABLE ledger.period_closures ALTER COLUMN db_user SET DEFAULT session_user;
