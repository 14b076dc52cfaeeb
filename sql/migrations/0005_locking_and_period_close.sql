-- depends: 0004_ledger_grants
--
-- Balance locking for writers, and closed periods.

-- Lock the cached balances and accounts a caller is about to change, in one global order
-- (balances by (account_id, currency), then accounts by account_id -- the order the triggers use),
-- creating missing balance rows at zero so that a first posting is locked too. Returns the locked
-- state: conditions and lock_version checks read it while the locks are held (invariant I9).
CREATE FUNCTION ledger.lock_balances(p_account_ids uuid[], p_currencies text[])
RETURNS TABLE (
    account_id uuid, currency text, lock_version bigint,
    posted_debits bigint, posted_credits bigint, pending_debits bigint, pending_credits bigint,
    version bigint
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
BEGIN
    INSERT INTO ledger.balances AS b (account_id, currency)
    SELECT DISTINCT u.a, u.c FROM unnest(p_account_ids, p_currencies) AS u(a, c)
     ORDER BY 1, 2
    ON CONFLICT ON CONSTRAINT balances_pkey DO NOTHING;

    PERFORM 1 FROM ledger.balances b
     WHERE (b.account_id, b.currency) IN (SELECT u.a, u.c FROM unnest(p_account_ids, p_currencies) AS u(a, c))
     ORDER BY b.account_id, b.currency FOR UPDATE;
    PERFORM 1 FROM ledger.accounts a
     WHERE a.account_id = ANY (p_account_ids)
     ORDER BY a.account_id FOR UPDATE;

    RETURN QUERY
    SELECT b.account_id, b.currency, a.lock_version,
           b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits, b.version
      FROM ledger.balances b
      JOIN ledger.accounts a ON a.account_id = b.account_id
     WHERE (b.account_id, b.currency) IN (SELECT u.a, u.c FROM unnest(p_account_ids, p_currencies) AS u(a, c));
END
$$;
REVOKE ALL ON FUNCTION ledger.lock_balances(uuid[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.lock_balances(uuid[], text[]) TO subledger_writer;

-- Period close. Append-only history of close/reopen actions; a period is closed while its
-- latest action is 'close'. The instants are fixed when the period is closed (reporting time
-- zone at that moment), so the database needs no time-zone setting to enforce it.
CREATE TABLE ledger.period_closures (
    closure_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    period     text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    action     text NOT NULL CHECK (action IN ('close', 'reopen')),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    timezone   text NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor      text NOT NULL DEFAULT coalesce(nullif(current_setting('subledger.actor', true), ''), session_user),
    reason     text
);
CREATE INDEX period_closures_by_period ON ledger.period_closures (period, at DESC);

CREATE VIEW ledger.closed_periods AS
SELECT period, starts_at, ends_at, timezone, at AS closed_at, actor AS closed_by
  FROM (SELECT DISTINCT ON (period) * FROM ledger.period_closures ORDER BY period, at DESC, closure_id) latest
 WHERE action = 'close';

CREATE TRIGGER period_closures_are_immutable BEFORE UPDATE OR DELETE ON ledger.period_closures
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG02', 'Reopen a period by recording a reopen action.');
CREATE TRIGGER period_closures_are_not_truncated BEFORE TRUNCATE ON ledger.period_closures
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG02', 'Reopen a period by recording a reopen action.');

CREATE FUNCTION ledger.period_closures_audit() RETURNS trigger
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
CREATE TRIGGER period_closures_audit AFTER INSERT ON ledger.period_closures
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger.period_closures_audit();

-- LDG09: nothing may take effect inside a closed period: no transaction effective in it, no
-- lifecycle move dated in it (invariant I10).
CREATE FUNCTION ledger.reject_closed_period_inserts() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    bad record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger.closed_periods) THEN
        RETURN NULL;
    END IF;
    SELECT n.idempotency_key, n.effective_at, c.period INTO bad
      FROM new_transactions n
      JOIN ledger.closed_periods c ON n.effective_at >= c.starts_at AND n.effective_at < c.ends_at
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG09',
            MESSAGE = format('transaction %s is effective at %s, inside the closed period %s', bad.idempotency_key, bad.effective_at, bad.period),
            HINT = 'Date it in an open period, or reopen the period (subledger close --reopen) if finance agrees.';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transactions_respect_closed_periods AFTER INSERT ON ledger.transactions
    REFERENCING NEW TABLE AS new_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_closed_period_inserts();

CREATE FUNCTION ledger.reject_closed_period_moves() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    SET enable_nestloop = off AS $$
DECLARE
    bad record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger.closed_periods) THEN
        RETURN NULL;
    END IF;
    SELECT n.idempotency_key, coalesce(n.posted_at, n.archived_at) AS moved_at, c.period INTO bad
      FROM new_rows n
      JOIN old_rows o ON o.transaction_id = n.transaction_id AND o.status = 'pending' AND n.status <> 'pending'
      JOIN ledger.closed_periods c
        ON coalesce(n.posted_at, n.archived_at) >= c.starts_at AND coalesce(n.posted_at, n.archived_at) < c.ends_at
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG09',
            MESSAGE = format('transaction %s would move at %s, inside the closed period %s', bad.idempotency_key, bad.moved_at, bad.period),
            HINT = 'Date the move in an open period, or reopen the period if finance agrees.';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transactions_moves_respect_closed_periods AFTER UPDATE ON ledger.transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_closed_period_moves();

GRANT SELECT ON ledger.period_closures, ledger.closed_periods TO subledger_reader, subledger_writer;
GRANT INSERT (period, action, starts_at, ends_at, timezone, reason) ON ledger.period_closures TO subledger_writer;
