-- ledger.refuse_reused_key(key, stored_id): the idempotency rule's refusal (LDG16), one wording for
-- post_transaction and reverse_transaction: a key that already holds a transaction with other
-- content is refused, and the first transaction stands. Called only on a replay with another
-- content_hash (never on a new posting's path).
CREATE OR REPLACE FUNCTION ledger.refuse_reused_key(p_idempotency_key text, p_stored_id uuid) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'LDG16',
        MESSAGE = format('idempotency_key=%L already holds transaction %s with different content',
                         p_idempotency_key, p_stored_id),
        HINT = 'The first one stands; send a new key for a new transaction, or reverse the first one.';
END
$$;

REVOKE ALL ON FUNCTION ledger.refuse_reused_key(text, uuid) FROM PUBLIC;
