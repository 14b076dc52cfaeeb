-- ledger.accounts_after_insert(): every prefix of every new account code becomes a 'path' category,
-- parents first (the categories the warehouse and the reports aggregate by). Set-based: one call per
-- INSERT or COPY of accounts.
CREATE OR REPLACE FUNCTION ledger.accounts_after_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
BEGIN
    -- Every prefix of every new code becomes a 'path' category, parents first.
    INSERT INTO ledger.categories (code, kind, parent_code)
    SELECT DISTINCT ON (prefix) prefix, 'path', parent
      FROM (
        SELECT array_to_string(segments[1:n], ':') AS prefix,
               CASE WHEN n > 1 THEN array_to_string(segments[1:n - 1], ':') END AS parent,
               n
          FROM (SELECT string_to_array(code, ':') AS segments FROM new_accounts) s,
               generate_series(1, cardinality(s.segments)) AS n
      ) p
     ORDER BY prefix, n
    ON CONFLICT (code) DO NOTHING;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ledger.accounts_after_insert() FROM PUBLIC;

CREATE OR REPLACE TRIGGER accounts_make_path_categories AFTER INSERT ON ledger.accounts
    REFERENCING NEW TABLE AS new_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.accounts_after_insert();
