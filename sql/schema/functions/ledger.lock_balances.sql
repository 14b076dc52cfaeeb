-- ledger.lock_balances(account_ids, currencies, whole_accounts): I9. Locks the cached balances a
-- writer is about to change, in one global order ((account_id, currency)), creating missing rows at
-- zero for accounts that exist, in currencies an entry could have, so that a first posting is
-- locked too (unknown accounts and malformed currencies are simply not returned). Every balance row
-- of each account in whole_accounts is locked as well, in the same order: the accounts whose
-- lock_version a caller checks (ledger.lock_version sums all of them, so a posting in another
-- currency must wait until the check's transaction ends). Returns the state of the given pairs,
-- read after the locks are held (a statement of its own, so it sees what the writers it waited for
-- committed): balance conditions and lock_version checks read it.
CREATE OR REPLACE FUNCTION ledger.lock_balances(p_account_ids uuid[], p_currencies text[], p_whole_accounts uuid[] DEFAULT NULL)
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
       AND u.c ~ '^[A-Z]{3}$'  -- a currency no entry could have makes no row (CHECK balances_row_rules)
     ORDER BY 1, 2
    ON CONFLICT ON CONSTRAINT balances_pkey DO NOTHING;

    PERFORM 1 FROM ledger.balances b
     WHERE (b.account_id, b.currency) IN (SELECT u.a, u.c FROM unnest(p_account_ids, p_currencies) AS u(a, c)
                                          UNION
                                          SELECT w.account_id, w.currency FROM ledger.balances w
                                           WHERE w.account_id = ANY (p_whole_accounts))
     ORDER BY b.account_id, b.currency FOR UPDATE;

    RETURN QUERY
    SELECT b.account_id, b.currency, ledger.lock_version(b.account_id),
           b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits, b.version
      FROM ledger.balances b
     WHERE (b.account_id, b.currency) IN (SELECT u.a, u.c FROM unnest(p_account_ids, p_currencies) AS u(a, c));
END
$$;

REVOKE ALL ON FUNCTION ledger.lock_balances(uuid[], text[], uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.lock_balances(uuid[], text[], uuid[]) TO subledger_writer;
