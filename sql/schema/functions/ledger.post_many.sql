-- ledger.post_many(postings): several single postings in one call and one database transaction,
-- each with its own outcome (Ledger.post_many, ledger_pipelines/ledger/posting.py; roadmap 4.1).
-- What it is for: a hot account takes at most one posting per commit when postings come one
-- transaction at a time (its balance row is locked until the commit's WAL flush); here N postings
-- share one lock wait and one flush.
--
-- postings: a JSON array of objects whose keys are ledger.post_transaction's parameters without
-- the p_ (transaction_id, idempotency_key, status, effective_at, content_hash, accounts,
-- directions, amounts, currencies, lock_versions, condition_legs, ... source). Each one is
-- ledger.post_transaction itself -- the same checks, guards, typed refusals and idempotency, one
-- definition -- run in its own subtransaction, so:
--   * a refused posting (any SQLSTATE but the ones below) is one row with its sqlstate, message,
--     detail and hint, and writes nothing; the postings before and after it are unaffected;
--   * a key that a concurrent writer committed while this call waited for it is looked up again
--     (a replay, or LDG16), as Ledger.post does;
--   * a deadlock, serialization failure or lock timeout aborts the whole call (nothing of it is
--     written) for the caller to run it again: every posting's idempotency key makes that safe.
-- Before the first posting the cached balances of every leg of the call (all of an account's when
-- a leg checks its lock_version and it holds several currencies, as post_transaction would lock
-- them) are locked in the global order (I9, ledger.lock_balances), so two calls over the same
-- accounts queue instead of deadlocking, whatever order their postings come in. Each locked balance
-- is then written once, after the last posting (ledger.batch_balance_deltas keeps the postings'
-- running sums, which post_transaction adds to and reads its conditions, versions and results
-- from): a hot balance gets one new row version per call, not one per posting. Each posting that
-- writes takes a subtransaction id: keep a call to at most 64 postings (Ledger.post_many splits
-- longer lists), beyond which every other session's snapshots get slower while it runs.
-- Returns one row per posting, in the order given (n, 1-based): post_transaction's result, or NULLs
-- and the refusal (refusal_sqlstate, _message, _detail, _hint).
CREATE OR REPLACE FUNCTION ledger.post_many(p_postings jsonb)
RETURNS TABLE (
    n integer,
    transaction_id uuid,
    status text,
    created boolean,
    account_codes text[],
    currencies text[],
    normal_balances text[],
    posted_debits bigint[],
    posted_credits bigint[],
    pending_debits bigint[],
    pending_credits bigint[],
    versions bigint[],
    lock_versions bigint[],
    refusal_sqlstate text,
    refusal_message text,
    refusal_detail text,
    refusal_hint text
)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    posting record;
    outcome record;
    lock_ids uuid[];
    lock_currencies text[];
    whole_accounts uuid[];
BEGIN
    IF jsonb_typeof(p_postings) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG05',
            MESSAGE = format('ledger.post_many takes a JSON array of postings, not %s', coalesce(jsonb_typeof(p_postings), 'NULL')),
            HINT = 'Give one object per posting with ledger.post_transaction''s parameters as keys (without p_).';
    END IF;

    SELECT array_agg(a.account_id), array_agg(u.currency),
           array_agg(DISTINCT a.account_id) FILTER (WHERE a.currency IS NULL AND u.lock_version IS NOT NULL)
      INTO lock_ids, lock_currencies, whole_accounts
      FROM jsonb_to_recordset(p_postings) AS x(accounts text[], currencies text[], lock_versions bigint[])
     CROSS JOIN LATERAL unnest(x.accounts, x.currencies, x.lock_versions) AS u(code, currency, lock_version)
     -- one index probe per leg (LIMIT 1: never a hash join over every account, as post_transaction)
     CROSS JOIN LATERAL (SELECT a.account_id, a.currency FROM ledger.accounts a WHERE a.code = u.code LIMIT 1) a;
    -- Each locked balance gets a row of running sums: the postings add to it (post_transaction), and
    -- the balance itself is written once, after the last posting.
    INSERT INTO ledger.batch_balance_deltas (xid, account_id, currency, posted_debits, posted_credits, pending_debits,
                                            pending_credits, entries)
    SELECT pg_current_xact_id(), l.account_id, l.currency, 0, 0, 0, 0, 0
      FROM ledger.lock_balances(lock_ids, lock_currencies, whole_accounts) l
    ON CONFLICT DO NOTHING;
    PERFORM set_config('subledger.batch_call', 'on', true);

    FOR posting IN
        SELECT x.* FROM ROWS FROM (jsonb_to_recordset(p_postings) AS (
                   transaction_id uuid, idempotency_key text, status text, effective_at timestamptz, content_hash text,
                   accounts text[], directions text[], amounts bigint[], currencies text[], lock_versions bigint[],
                   condition_legs integer[], condition_balances text[], condition_ops text[], condition_amounts bigint[],
                   reference text, source_event_id text, source_event_type text, batch_id uuid, description text,
                   metadata jsonb, source jsonb)) WITH ORDINALITY
               AS x(transaction_id, idempotency_key, status, effective_at, content_hash, accounts, directions, amounts,
                    currencies, lock_versions, condition_legs, condition_balances, condition_ops, condition_amounts,
                    reference, source_event_id, source_event_type, batch_id, description, metadata, source, ord)
         ORDER BY x.ord
    LOOP
        n := posting.ord;
        refusal_sqlstate := NULL; refusal_message := NULL; refusal_detail := NULL; refusal_hint := NULL;
        FOR attempt IN 1..2 LOOP
            BEGIN
                SELECT * INTO outcome
                  FROM ledger.post_transaction(
                      posting.transaction_id, posting.idempotency_key, posting.status, posting.effective_at,
                      posting.content_hash, posting.accounts, posting.directions, posting.amounts, posting.currencies,
                      posting.lock_versions, posting.condition_legs, posting.condition_balances, posting.condition_ops,
                      posting.condition_amounts, posting.reference, posting.source_event_id, posting.source_event_type,
                      posting.batch_id, posting.description, posting.metadata, posting.source);
                transaction_id := outcome.transaction_id; status := outcome.status; created := outcome.created;
                account_codes := outcome.account_codes; currencies := outcome.currencies;
                normal_balances := outcome.normal_balances; posted_debits := outcome.posted_debits;
                posted_credits := outcome.posted_credits; pending_debits := outcome.pending_debits;
                pending_credits := outcome.pending_credits; versions := outcome.versions;
                lock_versions := outcome.lock_versions;
                EXIT;
            EXCEPTION
                WHEN deadlock_detected OR serialization_failure OR lock_not_available THEN
                    RAISE;
                WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS refusal_sqlstate = RETURNED_SQLSTATE, refusal_message = MESSAGE_TEXT,
                                            refusal_detail = PG_EXCEPTION_DETAIL, refusal_hint = PG_EXCEPTION_HINT;
                    -- A concurrent writer committed this key first: the next attempt answers as a replay.
                    EXIT WHEN attempt = 2 OR refusal_sqlstate <> '23505' OR refusal_message NOT LIKE '%idempotency_key%';
                    refusal_sqlstate := NULL; refusal_message := NULL; refusal_detail := NULL; refusal_hint := NULL;
            END;
        END LOOP;
        IF refusal_sqlstate IS NOT NULL THEN
            transaction_id := NULL; status := NULL; created := NULL; account_codes := NULL; currencies := NULL;
            normal_balances := NULL; posted_debits := NULL; posted_credits := NULL; pending_debits := NULL;
            pending_credits := NULL; versions := NULL; lock_versions := NULL;
        END IF;
        RETURN NEXT;
    END LOOP;

    -- The sums of the postings that were written, each balance once (all are locked, so the order
    -- of the updates does not matter); the rows go, so a later call in this database transaction
    -- starts afresh.
    UPDATE ledger.balances b
       SET posted_debits = b.posted_debits + d.posted_debits, posted_credits = b.posted_credits + d.posted_credits,
           pending_debits = b.pending_debits + d.pending_debits, pending_credits = b.pending_credits + d.pending_credits,
           version = b.version + d.entries, updated_at = now()
      FROM ledger.batch_balance_deltas d
     WHERE d.xid = pg_current_xact_id() AND d.entries > 0 AND b.account_id = d.account_id AND b.currency = d.currency;
    DELETE FROM ledger.batch_balance_deltas d WHERE d.xid = pg_current_xact_id();
    PERFORM set_config('subledger.batch_call', '', true);
END
$$;

REVOKE ALL ON FUNCTION ledger.post_many(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.post_many(jsonb) TO subledger_writer;
