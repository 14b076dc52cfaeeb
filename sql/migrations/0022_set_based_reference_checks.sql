-- depends: 0021_lifecycle_moves_by_index
--
-- Cheaper per-row work on the write path, same guarantees (docs/invariants.md I3, I4, I8).
-- Measured on a 1M-event ledger (EXPLAIN ANALYZE, 8,000 lifecycle moves / 80,000 inserted
-- transactions; bench/README.md has the end-to-end figures):
--
-- 1. The self-referencing foreign key transactions.reverses_transaction_id queued an RI trigger
--    for *every* inserted transaction, reversal or not (2.8 us per row). It becomes a set-based
--    check in the statement trigger transactions_after_insert, which already joins each reversal
--    to its target: an unknown target is refused with LDG04. Nothing can remove a target later
--    (transactions are never deleted or truncated, and reverses_transaction_id never changes),
--    so a check at insert is as strong as the key.
-- 2. The foreign key balances.account_id -> accounts fired an RI query for every cached balance
--    updated twice in one database transaction (the cache row's xmin is then ours), i.e. for
--    most balances a lifecycle move touches in a batch. Only SECURITY DEFINER code writes
--    ledger.balances: entries_after_insert refuses unknown accounts (LDG06) before it caches,
--    and lock_balances now creates balance rows only for accounts that exist.
-- 3. transactions_lifecycle_only compared to_jsonb(NEW) with to_jsonb(OLD) minus the lifecycle
--    columns: 17 us per moved row. It now copies OLD, sets the lifecycle columns from NEW and
--    compares the two rows' binary images (*=): 3 us per row. Every other column -- including
--    columns added later -- still may not change.

ALTER TABLE ledger.transactions DROP CONSTRAINT transactions_reverses_transaction_id_fkey;
ALTER TABLE ledger.balances DROP CONSTRAINT balances_account_id_fkey;

CREATE OR REPLACE FUNCTION ledger.transactions_after_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.transaction_id, n.idempotency_key INTO bad FROM new_transactions n WHERE n.status = 'archived' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('transaction %s (%s) is inserted as archived', bad.transaction_id, bad.idempotency_key),
            HINT = 'Insert it as pending and archive it; a transaction starts pending or posted.';
    END IF;

    SELECT n.transaction_id, n.status, coalesce(r.status, 'unknown') AS target_status,
           n.reverses_transaction_id AS target_id
      INTO bad
      FROM new_transactions n
      LEFT JOIN ledger.transactions r ON r.transaction_id = n.reverses_transaction_id
     WHERE n.reverses_transaction_id IS NOT NULL
       AND (r.transaction_id IS NULL OR n.status <> 'posted' OR r.status <> 'posted')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = CASE WHEN bad.target_status = 'unknown'
                           THEN format('transaction %s reverses %s, which does not exist', bad.transaction_id, bad.target_id)
                           ELSE format('transaction %s reverses %s, which is %s; a reversal must be posted and reverse a posted transaction',
                                       bad.transaction_id, bad.target_id, bad.target_status) END,
            HINT = CASE WHEN bad.target_status = 'unknown'
                        THEN 'Name the transaction_id of a committed, posted transaction in reverses_transaction_id.'
                        ELSE 'Archive a pending transaction instead of reversing it.' END;
    END IF;

    INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
    SELECT 'transaction.reversed', 'transaction', n.reverses_transaction_id::text,
           NULL, jsonb_build_object('reversal_transaction_id', n.transaction_id, 'idempotency_key', n.idempotency_key)
      FROM new_transactions n
     WHERE n.reverses_transaction_id IS NOT NULL;

    -- One marker per database transaction arms the deferred commit check.
    INSERT INTO ledger.commit_checks (xid) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

-- Immutable columns: everything but the lifecycle fields. New columns are immutable by default.
CREATE OR REPLACE FUNCTION ledger.transactions_before_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    expected ledger.transactions;
BEGIN
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION USING
            ERRCODE = CASE WHEN NEW.status IS DISTINCT FROM OLD.status THEN 'LDG04' ELSE 'LDG03' END,
            MESSAGE = format('transaction %s (%s) is %s and can no longer change', OLD.transaction_id, OLD.idempotency_key, OLD.status),
            HINT = CASE OLD.status WHEN 'posted' THEN 'Reverse it with a new transaction instead.' ELSE 'An archived transaction is final.' END;
    END IF;
    IF NEW.status NOT IN ('posted', 'archived') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('transaction %s (%s): pending may only move to posted or archived, not %s', OLD.transaction_id, OLD.idempotency_key, NEW.status);
    END IF;
    NEW.status_changed_at := now();
    NEW.changed_xid := pg_current_xact_id();
    -- The row as it must be: the old one with only the lifecycle columns taken from the new one.
    expected := OLD;
    expected.status := NEW.status;
    expected.posted_at := NEW.posted_at;
    expected.archived_at := NEW.archived_at;
    expected.transition_key := NEW.transition_key;
    expected.transition_hash := NEW.transition_hash;
    expected.status_changed_at := NEW.status_changed_at;
    expected.changed_xid := NEW.changed_xid;
    IF NOT (expected *= NEW) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG03',
            MESSAGE = format('transaction %s (%s): only status, posted_at, archived_at and transition_key/hash may change', OLD.transaction_id, OLD.idempotency_key);
    END IF;
    RETURN NEW;
END
$$;

-- As in 0005, but balance rows are created only for accounts that exist (the foreign key that
-- refused the others is gone); the unknown ones are simply not returned.
CREATE OR REPLACE FUNCTION ledger.lock_balances(p_account_ids uuid[], p_currencies text[])
RETURNS TABLE (
    account_id uuid, currency text, lock_version bigint,
    posted_debits bigint, posted_credits bigint, pending_debits bigint, pending_credits bigint,
    version bigint
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
BEGIN
    INSERT INTO ledger.balances AS b (account_id, currency)
    SELECT DISTINCT u.a, u.c FROM unnest(p_account_ids, p_currencies) AS u(a, c)
     WHERE EXISTS (SELECT 1 FROM ledger.accounts a WHERE a.account_id = u.a)
     ORDER BY 1, 2
    ON CONFLICT ON CONSTRAINT balances_pkey DO NOTHING;

    PERFORM 1 FROM ledger.balances b
     WHERE (b.account_id, b.currency) IN (SELECT u.a, u.c FROM unnest(p_account_ids, p_currencies) AS u(a, c))
     ORDER BY b.account_id, b.currency FOR UPDATE;
    PERFORM 1 FROM ledger.accounts a
     WHERE a.account_id = ANY (p_account_ids)
     ORDER BY a.account_id FOR UPDATE;

    RETURN QUERY
    SELECT b.account_id, b.currency, a.lock_version,
           b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits, b.version
      FROM ledger.balances b
      JOIN ledger.accounts a ON a.account_id = b.account_id
     WHERE (b.account_id, b.currency) IN (SELECT u.a, u.c FROM unnest(p_account_ids, p_currencies) AS u(a, c));
END
$$;
