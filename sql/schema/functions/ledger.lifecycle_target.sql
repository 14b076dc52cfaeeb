-- ledger.lifecycle_target(target, target_id): the transaction a lifecycle move or a reversal names,
-- by idempotency key (preferred) or by id (`target_id`: `target` as a uuid, or NULL), or LDG19 if
-- none. Shared by ledger.move_transaction and ledger.reverse_transaction, which run as the owner.
CREATE OR REPLACE FUNCTION ledger.lifecycle_target(p_target text, p_target_id uuid) RETURNS ledger.transactions
    LANGUAGE plpgsql STABLE SET search_path = ledger, pg_catalog AS $$
DECLARE
    found_row ledger.transactions;
BEGIN
    SELECT t.* INTO found_row
      FROM ledger.transactions t
     WHERE t.idempotency_key = p_target OR t.transaction_id = p_target_id
     ORDER BY (t.idempotency_key = p_target) DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG19',
            MESSAGE = format('target=%L: no transaction has this idempotency key or id', p_target),
            HINT = 'Check the key.';
    END IF;
    RETURN found_row;
END
$$;

REVOKE ALL ON FUNCTION ledger.lifecycle_target(text, uuid) FROM PUBLIC;
