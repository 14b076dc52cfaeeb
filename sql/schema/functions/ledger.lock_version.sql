-- ledger.lock_version(account_id): an account's optimistic-locking version, the one definition:
-- the sum of its cached balances' versions. A balance's version grows by one per entry posted to it
-- and per entry of it a lifecycle move carries (post_transaction, entries_after_insert,
-- transactions_after_update) and never goes back (balances_after_update, LDG03), and balance rows
-- are never deleted (reject_change), so the sum grows by one per entry posted to the account and
-- per entry a move carries -- what accounts.lock_version counted until migration 0012, without a
-- second row written per posting. Read it under the locks of every balance row of the account
-- (ledger.lock_balances, p_whole_accounts) when a decision depends on it: a posting in another
-- currency changes it too. plpgsql, not SQL: its query's plan is kept for the session, while a
-- SQL function's body is planned again in every statement that calls it (~0.1 ms per posting,
-- measured, about what dropping the accounts UPDATE saves).
CREATE OR REPLACE FUNCTION ledger.lock_version(p_account_id uuid) RETURNS bigint
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(b.version), 0)::bigint FROM ledger.balances b WHERE b.account_id = p_account_id);
END
$$;

REVOKE ALL ON FUNCTION ledger.lock_version(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.lock_version(uuid) TO subledger_writer, subledger_reader;
