-- ledger.accepted_by_posting_call(): true only for a statement that ledger.post_transaction runs
-- after checking its rows itself. The insert triggers of transactions and entries skip such
-- statements (their WHEN clause), because the function has already done what they do (I1, I4, I5,
-- I6, I8, I10 for its own rows) -- one call instead of three statement triggers, a deferred commit
-- check and its marker row.
--
-- Nobody else can make a statement skip them. Both conditions must hold:
--   * the statement's role may create objects in the schema ledger. A trigger's WHEN clause is
--     evaluated as the role that runs the statement; inside a SECURITY DEFINER function that is
--     the function's owner, the ledger's owner, the one role granted CREATE on ledger (migrations;
--     a superuser passes too, and can disable any trigger anyway). The writer and the reader hold
--     only USAGE on it and cannot SET ROLE to the owner, so their raw INSERTs and UPDATEs always
--     fire every trigger, whatever they set;
--   * the flag subledger.posting_call is 'checked'. Only ledger.post_transaction sets it
--     (set_config(..., true)), and clears it before it returns; when it refuses, the aborted
--     (sub)transaction takes the setting with it. So after the call the owner's own raw SQL
--     (migrations, tests, repairs) is checked again. The other owner-run functions that write
--     these tables (move_ and reverse_transaction) clear it first, so a flag a writer
--     sets by hand is '' inside them. (The owner could set it by hand in its own session -- as it
--     could disable a trigger: the owner is the ledger's administrator.)
-- tests/ledger/test_single_post.py proves it as the writer, the reader and the owner, and that
-- only the owner holds CREATE on ledger.
CREATE OR REPLACE FUNCTION ledger.accepted_by_posting_call() RETURNS boolean
    -- plpgsql, not SQL: a SQL function is inlined into the WHEN clause by parsing its body again
    -- in every statement. One expression, no query: plpgsql evaluates it without starting an
    -- executor (0.7 us a call; the catalog query that compared the schema's owner with
    -- current_user cost 5.8 us, three times a posting). Not SECURITY DEFINER (current_user must
    -- stay the statement's role), and without a SET clause (a per-call cost): every name is
    -- qualified, so no role's search_path can put its own function or operator in front of
    -- pg_catalog's.
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce(pg_catalog.current_setting('subledger.posting_call', true) OPERATOR(pg_catalog.=) 'checked', false)
           AND pg_catalog.has_schema_privilege('ledger', 'CREATE');
END
$$;

REVOKE ALL ON FUNCTION ledger.accepted_by_posting_call() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.accepted_by_posting_call() TO subledger_writer, subledger_reader;
