-- depends: 0023_account_codes_refuse_invisible_characters
--
-- Two rules the writers always kept, now kept by the database too (docs/invariants.md I4, I6),
-- so raw SQL as the writer cannot break them (found by an audit):
--
-- 1. A transaction inserted as posted has posted_at = effective_at. A posted_at after it is what
--    a lifecycle move records; inserted directly it made the cached balance (posted now) and the
--    balance as of any time before posted_at (pending) disagree, and no check caught it.
-- 2. An account's normal balance is its type's (ledger.account_types, by the code's top-level
--    segment), and the type must exist: 'assets:x' as credit-normal, or 'bogus:x', could be
--    inserted and would sign its balances and categories wrongly.

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

    -- A transaction inserted as posted is posted at its effective time: a later posted_at is what a
    -- lifecycle move records, and would make the balance "now" and "as of" disagree.
    SELECT n.transaction_id, n.idempotency_key, n.effective_at, n.posted_at INTO bad
      FROM new_transactions n WHERE n.status = 'posted' AND n.posted_at IS DISTINCT FROM n.effective_at LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('transaction %s (%s) is inserted as posted with posted_at %s, not its effective_at %s',
                             bad.transaction_id, bad.idempotency_key, bad.posted_at, bad.effective_at),
            HINT = 'Insert it posted with posted_at = effective_at, or insert it pending and move it to posted later.';
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

CREATE OR REPLACE FUNCTION ledger.accounts_valid_on_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    type_normal text;
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
    SELECT t.normal_balance INTO type_normal FROM ledger.account_types t WHERE t.top_segment = split_part(NEW.code, ':', 1);
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
