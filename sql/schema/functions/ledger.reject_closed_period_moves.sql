-- ledger.reject_closed_period_moves(): I10 for lifecycle moves -- none may be dated (posted_at /
-- archived_at) inside a closed period (LDG09). Set-based; free while no period is closed.
CREATE OR REPLACE FUNCTION ledger.reject_closed_period_moves() RETURNS trigger
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

REVOKE ALL ON FUNCTION ledger.reject_closed_period_moves() FROM PUBLIC;

CREATE OR REPLACE TRIGGER transactions_moves_respect_closed_periods AFTER UPDATE ON ledger.transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_closed_period_moves();
