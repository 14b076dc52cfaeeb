-- bench/function_ab_bench.py variant, measurement only (never applied by migrate): a posting's writes on
-- subledger's schema and nothing else -- no idempotency lookup, no check, no lookup of accounts but their
-- ids -- so that the function's own cost above its writes can be read off (bench/README.md, issue 16).
-- Run: nice .venv/bin/python -m bench.function_ab_bench bench/variants/post_transaction_writes_only.sql
CREATE OR REPLACE FUNCTION ledger.post_transaction(
    p_transaction_id uuid, p_idempotency_key text, p_status text, p_effective_at timestamptz, p_content_hash text,
    p_accounts text[], p_directions text[], p_amounts bigint[], p_currencies text[], p_lock_versions bigint[] DEFAULT NULL,
    p_condition_legs integer[] DEFAULT NULL, p_condition_balances text[] DEFAULT NULL, p_condition_ops text[] DEFAULT NULL,
    p_condition_amounts bigint[] DEFAULT NULL, p_reference text DEFAULT NULL, p_source_event_id text DEFAULT NULL,
    p_source_event_type text DEFAULT NULL, p_batch_id uuid DEFAULT NULL, p_description text DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}', p_source jsonb DEFAULT NULL,
    OUT transaction_id uuid, OUT status text, OUT created boolean, OUT account_codes text[], OUT currencies text[],
    OUT normal_balances text[], OUT posted_debits bigint[], OUT posted_credits bigint[], OUT pending_debits bigint[],
    OUT pending_credits bigint[], OUT versions bigint[], OUT lock_versions bigint[])
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    ids uuid[];
    bal ledger.balances;
BEGIN
    ids := ARRAY(SELECT ledger.account_id_of(c) FROM unnest(p_accounts) c);
    PERFORM set_config('subledger.posting_call', 'checked', true);
    INSERT INTO ledger.transactions (transaction_id, idempotency_key, status, effective_at, posted_at, content_hash, metadata)
    VALUES (p_transaction_id, p_idempotency_key, p_status, p_effective_at, p_effective_at, p_content_hash, '{}');
    INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at)
    SELECT p_transaction_id, u.n - 1, u.id, u.direction, u.amount, u.currency, p_effective_at
      FROM unnest(ids, p_directions, p_amounts, p_currencies) WITH ORDINALITY AS u(id, direction, amount, currency, n);
    PERFORM set_config('subledger.posting_call', '', true);
    FOR i IN 1..cardinality(ids) LOOP
        UPDATE ledger.balances b
           SET posted_debits = b.posted_debits + CASE WHEN p_directions[i] = 'debit' THEN p_amounts[i] ELSE 0 END,
               posted_credits = b.posted_credits + CASE WHEN p_directions[i] = 'credit' THEN p_amounts[i] ELSE 0 END,
               version = b.version + 1, updated_at = now()
         WHERE b.account_id = ids[i] AND b.currency = p_currencies[i]
        RETURNING b.* INTO bal;
    END LOOP;
    transaction_id := p_transaction_id; status := p_status; created := true;
END
$$;
