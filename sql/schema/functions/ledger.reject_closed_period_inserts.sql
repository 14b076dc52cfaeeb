-- ledger.reject_closed_period_inserts(): I10 for new transactions -- none may be effective inside a
-- closed period (LDG09). Set-based; free while no period is closed.
CREATE OR REPLACE FUNCTION ledger.reject_closed_period_inserts() RETURNS trigger
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

REVOKE ALL ON FUNCTION ledger.reject_closed_period_inserts() FROM PUBLIC;

CREATE OR REPLACE TRIGGER transactions_respect_closed_periods AFTER INSERT ON ledger.transactions
    REFERENCING NEW TABLE AS new_transactions
    FOR EACH STATEMENT WHEN (NOT ledger.accepted_by_posting_call()) EXECUTE FUNCTION ledger.reject_closed_period_inserts();
