-- ledger.lock_balances(account_ids, currencies): I9. Locks the cached balances and accounts a writer
-- is about to change, in one global order (balances by (account_id, currency), then accounts by
-- account_id -- the order the triggers use), creating missing balance rows at zero for accounts that
-- exist, in currencies an entry could have, so that a first posting is locked too (unknown accounts
-- and malformed currencies are simply not returned). Returns the
-- locked state: balance conditions and lock_version checks read it while the locks are held.
CREATE OR REPLACE FUNCTION ledger.lock_balances(p_account_ids uuid[], p_currencies text[])
RETURNS TABLE (
    account_id uuid, currency text, lock_version bigint,
    posted_debits bigint, posted_credits bigint, pending_debits bigint, pending_credits bigint,
    version bigint
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
BEGIN
    INSERT INTO ledger.balances AS b (account_id, currency)
    SELECT DISTINCT u.a, u.c FROM unnest(p_account_ids, p_currencies) AS u(a, c)
     WHERE EXISTS (SELECT 1 FROM ledger.accounts a WHERE a.account_id = u.a)
       AND u.c ~ '^[A-Z]{3}$'  -- a currency no entry could have makes no row (CHECK balances_currency_check)
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
