-- ledger.move_transaction(...): a lifecycle move pending -> posted/archived in one call (Ledger.move).
-- Finds the target by idempotency key or id (LDG19 if none); a transition_key already used answers
-- as a replay (the same move: created = false) or raises LDG16 (another move); refuses anything
-- but a pending target (LDG04); a move dated before the target's effective_at is refused by the
-- lifecycle trigger (LDG04), as for every other write path. Locks the target's balances in the global order
-- (ledger.lock_balances), then moves it: the lifecycle triggers (transactions_before_update,
-- transactions_after_update, reject_closed_period_moves) keep I3, I4, I8 and I10 and write the
-- audit row with p_actor and p_reason, as for any other move.
CREATE OR REPLACE FUNCTION ledger.move_transaction(
    p_target text,
    p_target_id uuid,             -- p_target as a uuid, or NULL when it is not one
    p_to_status text,
    p_at timestamptz,
    p_transition_key text,
    p_transition_hash text,
    p_actor text,
    p_reason text,
    OUT transaction_id uuid,
    OUT idempotency_key text,
    OUT status text,
    OUT created boolean
)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    target ledger.transactions;
    used record;
    pairs record;
BEGIN
    PERFORM set_config('subledger.posting_call', '', true);  -- its statements fire every trigger
    IF p_to_status IS NULL OR p_to_status NOT IN ('posted', 'archived') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('to_status=%L: a pending transaction moves to ''posted'' or ''archived''', p_to_status);
    END IF;
    target := ledger.lifecycle_target(p_target, p_target_id);
    transaction_id := target.transaction_id;
    idempotency_key := target.idempotency_key;

    IF p_transition_key IS NOT NULL THEN
        SELECT t.transaction_id, t.idempotency_key, t.status, t.transition_hash INTO used
          FROM ledger.transactions t WHERE t.transition_key = p_transition_key;
        IF FOUND THEN
            IF used.transaction_id <> target.transaction_id OR used.transition_hash IS DISTINCT FROM p_transition_hash
               OR used.status <> p_to_status THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'LDG16',
                    MESSAGE = format('transition_key=%L already moved transaction %L to %s', p_transition_key, used.idempotency_key, used.status)
                              || CASE WHEN used.transaction_id = target.transaction_id AND used.status <> p_to_status
                                      THEN format(', not to %s', p_to_status)
                                      WHEN used.transaction_id = target.transaction_id THEN ' with different content'
                                      ELSE '' END,
                    HINT = 'The first move stands. Use a new transition_key for a different move.';
            END IF;
            status := used.status;
            created := false;
            RETURN;
        END IF;
    END IF;
    IF target.status <> 'pending' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('transaction %L is %s; only a pending transaction moves (to posted or archived)',
                             target.idempotency_key, target.status),
            HINT = CASE WHEN target.status = 'posted' THEN 'Reverse it instead.' ELSE 'An archived transaction is final.' END;
    END IF;
    IF p_at IS NULL THEN  -- a move dated before effective_at is refused by transactions_before_update
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('transaction %L cannot move to %s without a time', target.idempotency_key, p_to_status),
            HINT = 'Date the move at or after the transaction''s effective_at.';
    END IF;

    SELECT array_agg(p.account_id ORDER BY p.account_id, p.currency) AS account_ids,
           array_agg(p.currency ORDER BY p.account_id, p.currency) AS currencies INTO pairs
      FROM (SELECT DISTINCT e.account_id, e.currency FROM ledger.entries e
             WHERE e.transaction_id = target.transaction_id AND e.effective_at = target.effective_at) p;  -- one partition
    PERFORM 1 FROM ledger.lock_balances(pairs.account_ids, pairs.currencies);

    PERFORM set_config('subledger.actor', coalesce(p_actor, ''), true), set_config('subledger.reason', coalesce(p_reason, ''), true);
    UPDATE ledger.transactions t
       SET status = p_to_status,
           posted_at = CASE WHEN p_to_status = 'posted' THEN p_at END,
           archived_at = CASE WHEN p_to_status = 'archived' THEN p_at END,
           transition_key = p_transition_key,
           transition_hash = p_transition_hash
     WHERE t.transaction_id = target.transaction_id AND t.status = 'pending'
    RETURNING t.status INTO status;
    IF NOT FOUND THEN  -- moved by someone else between the read and the lock
        SELECT t.status, t.transition_key, t.transition_hash INTO used
          FROM ledger.transactions t WHERE t.transaction_id = target.transaction_id;
        IF p_transition_key IS NOT NULL AND used.transition_key = p_transition_key
           AND used.transition_hash IS NOT DISTINCT FROM p_transition_hash AND used.status = p_to_status THEN
            status := used.status;
            created := false;
            RETURN;
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('transaction %L is no longer pending: a concurrent move made it %s', target.idempotency_key, used.status),
            HINT = 'Only a pending transaction moves; re-read it.';
    END IF;
    created := true;
END
$$;

REVOKE ALL ON FUNCTION ledger.move_transaction(text, uuid, text, timestamptz, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.move_transaction(text, uuid, text, timestamptz, text, text, text, text) TO subledger_writer;
