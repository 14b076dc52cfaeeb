-- ledger.transactions_after_insert(): first the row rules of every new row
-- (ledger.transaction_row_problem, 23514), then the insert rules of a transaction's lifecycle (I4, LDG04),
-- and last I10, no transaction effective inside a closed period (LDG09):
-- a transaction starts pending or posted, posted at its effective time (posted_at = effective_at);
-- a reversal is posted and reverses an existing posted transaction (at most once: unique index
-- transactions_reversed_once). Audits every reversal (I8), makes the entries partitions of the
-- months the transactions are dated in (ledger.ensure_entry_partitions) and arms the commit
-- check of I1 (one ledger.commit_checks row per database transaction, a ledger.commit_tallies row
-- per statement). Set-based: one call per INSERT or COPY;
-- the reversal check replaces a foreign key, whose trigger would fire for every inserted row.
CREATE OR REPLACE FUNCTION ledger.transactions_after_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    bad record;
    span record;
BEGIN
    -- The row rules first (ledger.transaction_row_problem.sql), as the CHECKs they were came first.
    SELECT n.transaction_id, n.idempotency_key, p.problem INTO bad
      FROM new_transactions n
     CROSS JOIN LATERAL (SELECT ledger.transaction_row_problem(n.transaction_id, n.idempotency_key, n.status, n.posted_at,
                                                               n.archived_at, n.metadata, n.reverses_transaction_id)
                                AS problem) p
     WHERE p.problem IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        PERFORM ledger.refuse_broken_row('transactions', bad.problem,
                                         format('transaction %s, key %s', bad.transaction_id, left(bad.idempotency_key, 64)));
    END IF;

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

    -- Every month the new transactions are dated in has its entries partition before any of
    -- their entries arrives (I5: entries come after their transaction). A statement's
    -- transactions are mostly of one month (a batch is a day or a month of events): then the
    -- earliest and the latest name it, without taking 200k times apart in a time zone; else each
    -- distinct month, never the months between.
    SELECT min(n.effective_at) AS earliest, max(n.effective_at) AS latest INTO span FROM new_transactions n;
    IF date_trunc('month', span.earliest, 'UTC') = date_trunc('month', span.latest, 'UTC') THEN
        PERFORM ledger.ensure_entry_partitions(span.earliest, span.latest);
    ELSE
        PERFORM ledger.ensure_entry_partitions(month, month)
           FROM (SELECT DISTINCT date_trunc('month', n.effective_at, 'UTC') AS month FROM new_transactions n) months;
    END IF;

    -- One marker per database transaction arms the deferred commit check, which compares how many
    -- transactions were created with how many the entries statements gave entries to.
    INSERT INTO ledger.commit_tallies (xid, kind, transactions)
    SELECT pg_current_xact_id(), 'transactions', count(*) FROM new_transactions;
    INSERT INTO ledger.commit_checks (xid) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;

    -- I10: none is effective inside a closed period. (Its own trigger until migration 0016: one
    -- statement trigger fewer to test and skip for every single posting.)
    IF EXISTS (SELECT 1 FROM ledger.closed_periods) THEN
        SELECT n.idempotency_key, n.effective_at, c.period INTO bad
          FROM new_transactions n
          JOIN ledger.closed_periods c ON n.effective_at >= c.starts_at AND n.effective_at < c.ends_at
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING
                ERRCODE = 'LDG09',
                MESSAGE = format('transaction %s is effective at %s, inside the closed period %s', bad.idempotency_key,
                                 bad.effective_at, bad.period),
                HINT = 'Date it in an open period, or reopen the period (subledger close --reopen) if finance agrees.';
        END IF;
    END IF;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ledger.transactions_after_insert() FROM PUBLIC;

CREATE OR REPLACE TRIGGER transactions_check_inserts AFTER INSERT ON ledger.transactions
    REFERENCING NEW TABLE AS new_transactions
    FOR EACH STATEMENT WHEN (NOT ledger.accepted_by_posting_call()) EXECUTE FUNCTION ledger.transactions_after_insert();
