-- ledger.entries_after_insert(): the entries' insert rules and the cache, set-based per INSERT or
-- COPY of entries:
--       first the row rules of every new entry (ledger.entry_row_problem, 23514);
--   I6  an entry's account exists and accepts its currency (LDG06);
--   I5  an entry belongs to a transaction created by the same database transaction, not archived,
--       with the same effective_at (LDG05);
--   I1  per transaction and currency, the statement's net goes to ledger.unbalanced_nets, and the
--       number and id range of the transactions it gave entries to to ledger.commit_tallies, for
--       the commit check (check_at_commit), which this re-arms for every statement that adds entries;
--   I8  the cached balances (and their versions, which make the accounts' lock_version,
--       ledger.lock_version) grow by the new entries, in (account_id, currency) order so that
--       concurrent writers lock alike.
CREATE OR REPLACE FUNCTION ledger.entries_after_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    AS $$
DECLARE
    this_xid constant xid8 := pg_current_xact_id();
    bad record;
    bad_entries bigint;
BEGIN
    -- The row rules first (ledger.entry_row_problem.sql), as the CHECKs they were came first.
    SELECT e.transaction_id, e.entry_no, p.problem INTO bad
      FROM new_entries e
     CROSS JOIN LATERAL (SELECT ledger.entry_row_problem(e.entry_no, e.direction, e.amount, e.currency) AS problem) p
     WHERE p.problem IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        PERFORM ledger.refuse_broken_row('entries', bad.problem,
                                         format('entry %s of transaction %s', bad.entry_no, bad.transaction_id));
    END IF;

    SELECT e.account_id, e.currency, a.code, a.currency AS account_currency INTO bad
      FROM (SELECT DISTINCT account_id, currency FROM new_entries) e
      LEFT JOIN ledger.accounts a ON a.account_id = e.account_id
     WHERE a.account_id IS NULL OR (a.currency IS NOT NULL AND a.currency <> e.currency)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG06',
            MESSAGE = CASE WHEN bad.code IS NULL
                           THEN format('entry for unknown account id %s', bad.account_id)
                           ELSE format('account %s holds only %s, not %s', bad.code, bad.account_currency, bad.currency) END,
            HINT = 'Create the account first (its id is ledger.account_id_of(code)), in the currency it holds.';
    END IF;

    -- One pass over the new entries joined to the transactions created by this database
    -- transaction (found through the changed_xid index) feeds the nets and the cache. A
    -- balance's version (and so its account's lock_version) grows by one per entry that changes it.
    WITH joined AS MATERIALIZED (
        SELECT e.transaction_id, e.account_id, e.currency, e.direction, e.amount, t.status,
               (t.transaction_id IS NULL OR t.status = 'archived' OR t.effective_at <> e.effective_at) AS misplaced
          FROM new_entries e
          LEFT JOIN (SELECT transaction_id, status, effective_at
                       FROM ledger.transactions
                      WHERE changed_xid = this_xid AND created_xid = this_xid) t
            ON t.transaction_id = e.transaction_id
    ), pairs AS MATERIALIZED (
        SELECT account_id, currency,
               coalesce(sum(amount) FILTER (WHERE status = 'posted' AND direction = 'debit'), 0) AS posted_debits,
               coalesce(sum(amount) FILTER (WHERE status = 'posted' AND direction = 'credit'), 0) AS posted_credits,
               coalesce(sum(amount) FILTER (WHERE status = 'pending' AND direction = 'debit'), 0) AS pending_debits,
               coalesce(sum(amount) FILTER (WHERE status = 'pending' AND direction = 'credit'), 0) AS pending_credits,
               count(*) AS entries
          FROM joined
         WHERE NOT misplaced
         GROUP BY account_id, currency
    ), per_transaction AS MATERIALIZED (
        -- The statement's net per transaction and currency: read by the nets and the tally, so
        -- the entries are grouped by transaction once.
        SELECT transaction_id, currency, sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) AS net
          FROM joined GROUP BY transaction_id, currency
    ), nets AS (
        -- Only transactions this statement leaves unbalanced are recorded for the commit check.
        INSERT INTO ledger.unbalanced_nets AS u (xid, transaction_id, currency, net)
        SELECT this_xid, transaction_id, currency, net
          FROM per_transaction
         WHERE net <> 0
        ON CONFLICT (xid, transaction_id, currency) DO UPDATE SET net = u.net + excluded.net
    ), cache AS (
        -- Cached balances, in (account_id, currency) order so concurrent writers lock alike.
        INSERT INTO ledger.balances AS b
               (account_id, currency, posted_debits, posted_credits, pending_debits, pending_credits, version)
        SELECT account_id, currency, posted_debits, posted_credits, pending_debits, pending_credits, entries
          FROM pairs
         ORDER BY account_id, currency
        ON CONFLICT (account_id, currency) DO UPDATE SET
               posted_debits = b.posted_debits + excluded.posted_debits,
               posted_credits = b.posted_credits + excluded.posted_credits,
               pending_debits = b.pending_debits + excluded.pending_debits,
               pending_credits = b.pending_credits + excluded.pending_credits,
               version = b.version + excluded.version,
               updated_at = now()
    ), tally AS (
        -- How many transactions this statement gave entries to, and the range of their ids, so
        -- the commit check need not read the entries again (min/max(uuid) arrive only in
        -- Postgres 16; text in the C collation orders like the bytes).
        INSERT INTO ledger.commit_tallies (xid, kind, transactions, lowest, highest)
        SELECT this_xid, 'entries', count(*), min(transaction_id::text COLLATE "C")::uuid,
               max(transaction_id::text COLLATE "C")::uuid
          FROM (SELECT DISTINCT transaction_id FROM per_transaction) d
    )
    SELECT count(*) FILTER (WHERE misplaced) INTO bad_entries FROM joined;

    -- Re-arm the commit check for every statement that adds entries, after the nets are
    -- recorded: a client may have run the check early (SET CONSTRAINTS ... IMMEDIATE), which
    -- consumes the marker the transaction insert left; entries added later must still be
    -- checked. (In immediate mode the check runs at the end of this INSERT, so it must come
    -- after the nets.)
    INSERT INTO ledger.commit_checks (xid) VALUES (this_xid) ON CONFLICT DO NOTHING;

    IF bad_entries > 0 THEN
        SELECT e.transaction_id,
               CASE
                   WHEN t.transaction_id IS NULL THEN 'its transaction does not exist'
                   WHEN t.created_xid <> this_xid THEN 'its transaction was created by an earlier database transaction'
                   WHEN t.status = 'archived' THEN 'its transaction is archived'
                   ELSE format('its effective_at %s differs from the transaction''s %s', e.effective_at, t.effective_at)
               END AS problem
          INTO bad
          FROM new_entries e
          LEFT JOIN ledger.transactions t ON t.transaction_id = e.transaction_id
         WHERE t.transaction_id IS NULL OR t.created_xid <> this_xid OR t.status = 'archived'
            OR t.effective_at <> e.effective_at
         LIMIT 1;
        RAISE EXCEPTION USING
            ERRCODE = 'LDG05',
            MESSAGE = format('entry of transaction %s rejected: %s', bad.transaction_id, bad.problem),
            HINT = 'Insert a transaction and all of its entries in one database transaction; entries are never added later.';
    END IF;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ledger.entries_after_insert() FROM PUBLIC;

CREATE OR REPLACE TRIGGER entries_check_and_cache AFTER INSERT ON ledger.entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT WHEN (NOT ledger.accepted_by_posting_call()) EXECUTE FUNCTION ledger.entries_after_insert();
