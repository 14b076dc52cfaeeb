-- ledger.normal_balance_of_category(code, own): the normal balance a category's totals are signed by
-- (R3): its own (`ledger.categories.normal_balance`) if it names one, else that of the account type
-- of its top segment (paths, and groups named under a type such as 'revenue:promo';
-- ledger.normal_balance_of), else debit. Used by the ledger's category balances
-- (sql/ledger/category_membership.sql) and the warehouse mirror (sql/warehouse/mirror/pg_categories.sql).
CREATE OR REPLACE FUNCTION ledger.normal_balance_of_category(code text, own text) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN coalesce(own, ledger.normal_balance_of(code), 'debit');

REVOKE ALL ON FUNCTION ledger.normal_balance_of_category(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.normal_balance_of_category(text, text) TO subledger_writer, subledger_reader;
