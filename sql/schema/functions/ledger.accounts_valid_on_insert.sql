-- ledger.accounts_valid_on_insert(): I6 when an account is created (23514, check violation): its
-- code follows the account-code rule (ledger.is_valid_account_code), its id is
-- ledger.account_id_of(code), its top-level segment is an account type and its normal balance is
-- that type's (ledger.normal_balance_of). Row by row, but only on INSERT: afterwards the identity
-- never changes (accounts_after_update).
CREATE OR REPLACE FUNCTION ledger.accounts_valid_on_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    type_normal constant text := ledger.normal_balance_of(NEW.code);
BEGIN
    IF NOT ledger.is_valid_account_code(NEW.code) THEN
        RAISE EXCEPTION USING
            ERRCODE = '23514',
            MESSAGE = format('account code %L is not a path of 1-32 segments of 1-64 printable characters', NEW.code),
            HINT = 'Name accounts like assets:receivables:sub_42.';
    END IF;
    IF NEW.account_id IS DISTINCT FROM ledger.account_id_of(NEW.code) THEN
        RAISE EXCEPTION USING
            ERRCODE = '23514',
            MESSAGE = format('account %s: account_id must be ledger.account_id_of(code) = %s, not %s',
                             NEW.code, ledger.account_id_of(NEW.code), NEW.account_id),
            HINT = 'Leave the id to ledger.account_id_of(code) (Python: ledger_pipelines.ledger.ids.account_id).';
    END IF;
    IF type_normal IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = '23514',
            MESSAGE = format('account %s: its top-level segment %L is not an account type', NEW.code, split_part(NEW.code, ':', 1)),
            HINT = 'Start the code with a type in ledger.account_types (assets, expenses, liabilities, equity, revenue, income, ...) or add the type (posting rules: account_types).';
    END IF;
    IF NEW.normal_balance IS DISTINCT FROM type_normal THEN
        RAISE EXCEPTION USING
            ERRCODE = '23514',
            MESSAGE = format('account %s: normal_balance %s, but %s accounts are %s-normal', NEW.code, NEW.normal_balance,
                             split_part(NEW.code, ':', 1), type_normal),
            HINT = 'Leave the normal balance to the account type.';
    END IF;
    RETURN NEW;
END
$$;

REVOKE ALL ON FUNCTION ledger.accounts_valid_on_insert() FROM PUBLIC;

CREATE OR REPLACE TRIGGER accounts_valid_on_insert BEFORE INSERT ON ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION ledger.accounts_valid_on_insert();
