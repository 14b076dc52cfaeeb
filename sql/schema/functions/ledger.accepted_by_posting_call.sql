-- ledger.accepted_by_posting_call(): true only for a statement that ledger.post_transaction (or
-- ledger.reverse_transaction) runs after checking its rows itself. The insert triggers of
-- transactions and entries and the update trigger of accounts skip such statements (their WHEN
-- clause), because the function has already done what they do (I1, I4, I5, I6, I8, I10 for its own
-- rows) -- one call instead of four statement triggers, a deferred commit check and a marker row.
--
-- Nobody else can make a statement skip them. Both conditions must hold:
--   * the statement runs as the ledger's owner. A trigger's WHEN clause is evaluated as the role
--     that runs the statement; inside a SECURITY DEFINER function that is the function's owner.
--     The writer and the reader never are the owner (they cannot SET ROLE to it), so their raw
--     INSERTs and UPDATEs always fire every trigger;
--   * the flag subledger.posting_call is 'checked'. Only the posting functions set it, with
--     set_config(..., true) inside a function that has a SET clause, so Postgres restores it when
--     the function returns: the owner's own raw SQL (migrations, tests, repairs) is checked too.
-- A writer who sets the flag itself gains nothing: its statements do not run as the owner, and the
-- posting functions check their rows whatever the flag says. tests/ledger/test_single_post.py
-- proves both as the writer and the reader.
CREATE OR REPLACE FUNCTION ledger.accepted_by_posting_call() RETURNS boolean
    -- plpgsql, not SQL: a SQL function that cannot be inlined is planned again at every call, and
    -- this runs for every INSERT into transactions and entries and every UPDATE of accounts. Not
    -- SECURITY DEFINER (current_user must stay the statement's role), and without a SET clause (a
    -- per-call cost): every name is qualified, so no role's search_path can put its own function
    -- or operator in front of pg_catalog's.
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT coalesce(pg_catalog.current_setting('subledger.posting_call', true) OPERATOR(pg_catalog.=) 'checked', false) THEN
        RETURN false;
    END IF;
    RETURN EXISTS (SELECT FROM pg_catalog.pg_namespace n
                    WHERE n.nspname OPERATOR(pg_catalog.=) 'ledger'
                      AND n.nspowner OPERATOR(pg_catalog.=)
                          pg_catalog.to_regrole(current_user::pg_catalog.text)::pg_catalog.oid);
END
$$;

REVOKE ALL ON FUNCTION ledger.accepted_by_posting_call() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.accepted_by_posting_call() TO subledger_writer, subledger_reader;
