-- ledger.reverse_transaction(...): a reversal in one call (Ledger.reverse). The same key with the
-- same content_hash answers with the stored reversal (created = false), with another content LDG16.
-- Finds the target by idempotency key or id (LDG19 if none); only a posted target that no
-- transaction reverses yet is reversed (LDG04). Locks the target's balances in the
-- global order (ledger.lock_balances), then inserts the reversal -- posted at p_effective_at,
-- reverses_transaction_id = the target -- and as its entries exactly the target's, each with its
-- side swapped (same entry_no, account, amount and currency). The insert triggers check and cache
-- them as for any insert and audit the reversal with p_actor and p_reason (I1, I4, I5, I8, I10);
-- the unique index transactions_reversed_once settles a race between two reversals.
CREATE OR REPLACE FUNCTION ledger.reverse_transaction(
    p_transaction_id uuid,
    p_idempotency_key text,
    p_target text,
    p_target_id uuid,             -- p_target as a uuid, or NULL when it is not one
    p_effective_at timestamptz,
    p_content_hash text,
    p_reason text,
    p_metadata jsonb,
    p_batch_id uuid,
    p_actor text,
    OUT transaction_id uuid,
    OUT status text,
    OUT created boolean
)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    found_row record;
    target ledger.transactions;
    reversed_by uuid;
    pairs record;
BEGIN
    PERFORM set_config('subledger.posting_call', '', true);  -- its statements fire every trigger
    FOR attempt IN 1..2 LOOP
        SELECT t.transaction_id, t.status, t.content_hash INTO found_row
          FROM ledger.transactions t WHERE t.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            IF found_row.content_hash IS DISTINCT FROM p_content_hash THEN
                PERFORM ledger.refuse_reused_key(p_idempotency_key, found_row.transaction_id);
            END IF;
            transaction_id := found_row.transaction_id;
            status := found_row.status;
            created := false;
            RETURN;
        END IF;
        EXIT WHEN attempt = 2;

        target := ledger.lifecycle_target(p_target, p_target_id);
        reversed_by := (SELECT r.transaction_id FROM ledger.transactions r WHERE r.reverses_transaction_id = target.transaction_id);
        IF target.status <> 'posted' THEN
            RAISE EXCEPTION USING
                ERRCODE = 'LDG04',
                MESSAGE = format('transaction %L is %s; only a posted transaction can be reversed', target.idempotency_key, target.status)
                          || CASE WHEN target.status = 'pending' THEN ' (archive a pending one instead)' ELSE '' END;
        END IF;
        -- Not reversed yet: go on. Reversed: a reversal with this very key may have committed
        -- between the two reads (each statement sees what was committed when it started), so
        -- read the key once more (the loop's second turn) before refusing.
        EXIT WHEN reversed_by IS NULL;
    END LOOP;
    IF reversed_by IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('transaction %L was already reversed by %s; it is reversed at most once', target.idempotency_key, reversed_by),
            HINT = 'Reverse the reversal to restore it.';
    END IF;

    SELECT array_agg(p.account_id ORDER BY p.account_id, p.currency) AS account_ids,
           array_agg(p.currency ORDER BY p.account_id, p.currency) AS currencies INTO pairs
      FROM (SELECT DISTINCT e.account_id, e.currency FROM ledger.entries e
             WHERE e.transaction_id = target.transaction_id AND e.effective_at = target.effective_at) p;  -- one partition
    PERFORM 1 FROM ledger.lock_balances(pairs.account_ids, pairs.currencies);

    PERFORM set_config('subledger.actor', coalesce(p_actor, ''), true), set_config('subledger.reason', coalesce(p_reason, ''), true);
    INSERT INTO ledger.transactions (transaction_id, idempotency_key, status, effective_at, posted_at, reverses_transaction_id,
                                     source_event_type, batch_id, content_hash, description, metadata)
    VALUES (p_transaction_id, p_idempotency_key, 'posted', p_effective_at, p_effective_at, target.transaction_id,
            'transaction.reversed', p_batch_id, p_content_hash,
            format('Reversal of %s', target.idempotency_key) || coalesce(': ' || nullif(p_reason, ''), ''),
            coalesce(p_metadata, '{}'));
    INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at)
    SELECT p_transaction_id, e.entry_no, e.account_id, CASE e.direction WHEN 'debit' THEN 'credit' ELSE 'debit' END,
           e.amount, e.currency, p_effective_at
      FROM ledger.entries e
     WHERE e.transaction_id = target.transaction_id AND e.effective_at = target.effective_at;
    transaction_id := p_transaction_id;
    status := 'posted';
    created := true;
END
$$;

REVOKE ALL ON FUNCTION ledger.reverse_transaction(uuid, text, text, uuid, timestamptz, text, text, jsonb, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.reverse_transaction(uuid, text, text, uuid, timestamptz, text, text, jsonb, uuid, text)
    TO subledger_writer;
