-- ledger.lock_versions(account_ids): the accounts' optimistic-locking versions, in the order given.
-- An account's lock_version is the sum of its cached balances' versions.
-- A balance's version grows by one per entry posted to it and per entry of it a lifecycle move
-- carries (post_transaction, entries_after_insert, transactions_after_update) and never goes back
-- (balances_after_update, LDG03), and balance rows are never deleted (reject_change), so the sum
-- grows by one per entry posted to the account and per entry a move carries -- what
-- accounts.lock_version counted until migration 0012, without a second row written per posting.
-- Read it under the locks of every balance row of the account (ledger.lock_balances,
-- p_whole_accounts) when a decision depends on it: a posting in another currency changes it too.
-- plpgsql, not SQL: its query's plan is kept for the session, while a SQL function's body is
-- planned again in every statement that calls it (~0.1 ms per posting, measured). One call for
-- all of a posting's accounts: a plpgsql call per account cost post_transaction ~0.05 ms more.
CREATE OR REPLACE FUNCTION ledger.lock_versions(p_account_ids uuid[]) RETURNS bigint[]
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN ARRAY(SELECT (SELECT coalesce(sum(b.version), 0)::bigint FROM ledger.balances b WHERE b.account_id = i.id)
                   FROM unnest(p_account_ids) WITH ORDINALITY AS i(id, n)
                  ORDER BY i.n);
END
$$;

-- ledger.lock_version(account_id): one account's, for readers (sql/ledger/current_balances.sql,
-- account_info.sql) and ledger.lock_balances, which call it once per row: the same sum over the
-- same rows as above, for one account. Its own plpgsql query, not a call of lock_versions: that
-- wrapper doubled the bulk path's balance-lock stage (ledger.lock_balances returns ~20k rows a
-- batch; bench/README.md, issue 16). The two are kept equal by
-- tests/ledger/test_posting_api.py::test_lock_versions_and_lock_version_agree.
CREATE OR REPLACE FUNCTION ledger.lock_version(p_account_id uuid) RETURNS bigint
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(b.version), 0)::bigint FROM ledger.balances b WHERE b.account_id = p_account_id);
END
$$;

REVOKE ALL ON FUNCTION ledger.lock_versions(uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.lock_versions(uuid[]) TO subledger_writer, subledger_reader;
REVOKE ALL ON FUNCTION ledger.lock_version(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.lock_version(uuid) TO subledger_writer, subledger_reader;
