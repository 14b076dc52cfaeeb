-- ledger.transactions_before_update(): keeps I3 and I4 on UPDATE. A posted or archived transaction
-- never changes (LDG03, or LDG04 for a status change); a pending one may only move to posted or
-- archived (LDG04), never dated before its own effective_at (LDG04: posted_at or archived_at earlier
-- than the business time of the transaction would count it before it happened), and only its
-- lifecycle columns may change with it: the row is compared, as a
-- binary image, with the old row whose lifecycle columns alone are replaced, so every other column
-- -- including columns added later -- is immutable (LDG03). Stamps status_changed_at and changed_xid
-- (the watermarks' "moved after"). The row after the move keeps the row rules
-- (ledger.transaction_row_problem: posted iff posted_at, archived iff archived_at; 23514).
CREATE OR REPLACE FUNCTION ledger.transactions_before_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    expected ledger.transactions;
    problem text;
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
    IF coalesce(NEW.posted_at, NEW.archived_at) < OLD.effective_at THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('transaction %s (%s) cannot be %s at %s, before its effective_at %s',
                             OLD.transaction_id, OLD.idempotency_key, NEW.status,
                             coalesce(NEW.posted_at, NEW.archived_at), OLD.effective_at),
            HINT = 'Date the move at or after the transaction''s effective_at.';
    END IF;
    problem := ledger.transaction_row_problem(NEW.transaction_id, NEW.idempotency_key, NEW.status, NEW.posted_at,
                                              NEW.archived_at, NEW.metadata, NEW.reverses_transaction_id);
    IF problem IS NOT NULL THEN
        PERFORM ledger.refuse_broken_row('transactions', problem,
                                         format('transaction %s, key %s', OLD.transaction_id, left(OLD.idempotency_key, 64)));
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

REVOKE ALL ON FUNCTION ledger.transactions_before_update() FROM PUBLIC;

CREATE OR REPLACE TRIGGER transactions_lifecycle_only BEFORE UPDATE ON ledger.transactions
    FOR EACH ROW EXECUTE FUNCTION ledger.transactions_before_update();
