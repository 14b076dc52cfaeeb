-- ledger.post_transaction(...): one transaction and its entries posted in one call (one round trip
-- for Ledger.post, ledger_pipelines/ledger/posting.py). It does, in this order, what the insert
-- triggers would do for its rows, so they skip them (ledger.accepted_by_posting_call):
--   idempotency  the same key with the same content_hash answers with the stored transaction
--                (created = false); with another content it raises LDG16;
--   I4           a new transaction is posted (posted_at = effective_at) or pending (LDG04);
--   rows         the row rules of the transaction and its entries (ledger.transaction_row_problem,
--                ledger.entry_row_problem; 23514), after the arrays' shape (LDG05);
--   I1           per currency, debit amounts equal credit amounts (LDG01); at least one leg (LDG07);
--   I10          effective_at is in no closed period (LDG09);
--   I6           accounts exist (missing ones are created, checked by accounts_valid_on_insert) and
--                accept the leg's currency (LDG06);
--   I5           the transaction and its entries (same effective_at, same database transaction),
--                written before any balance is locked, so a hot account's lock is held briefly;
--   I9, I8       the cached balances are locked in the global order by the statement that
--                changes them: one upsert of them all, INSERT ... SELECT ... ORDER BY (account_id,
--                currency), which writes its rows in that order whatever the plan (one UPDATE ...
--                FROM would lock in the order of its join); an account whose lock_version a leg
--                checks and that holds several currencies has all its balance rows locked first,
--                in the same order (ledger.lock_balances), since its lock_version sums them;
--   guards       every leg's lock_version must equal its account's before this transaction
--                (ledger.lock_versions, read under those locks; LDG17, DETAIL: the mismatches as
--                JSON), and every balance condition must hold after it, computed by
--                ledger.balance_value (LDG18, DETAIL: the failures as JSON); a refusal takes back
--                everything the call wrote.
--                Inside ledger.post_many, a balance that the call keeps running sums for
--                (ledger.batch_balance_deltas) is not updated: the sums are, and the checks and the
--                result read the balance as its row plus them; post_many writes it once at its end.
-- The accounts are not written: their lock_version is derived from the balances (migration 0012).
-- The read-only checks are one query (the facts they need, gathered once); I1 is plpgsql over the legs.
-- Returns the transaction id and status, whether it was created, and per (account, currency) the
-- balance after it (the four sums, version, normal balance) and the account's lock_version.
CREATE OR REPLACE FUNCTION ledger.post_transaction(
    p_transaction_id uuid,
    p_idempotency_key text,
    p_status text,
    p_effective_at timestamptz,
    p_content_hash text,
    p_accounts text[],
    p_directions text[],
    p_amounts bigint[],
    p_currencies text[],
    p_lock_versions bigint[] DEFAULT NULL,      -- per leg, NULL where the caller does not check it
    p_condition_legs integer[] DEFAULT NULL,    -- per condition: the leg (1-based) it bounds
    p_condition_balances text[] DEFAULT NULL,   -- posted | pending | available
    p_condition_ops text[] DEFAULT NULL,        -- gte | lte | eq
    p_condition_amounts bigint[] DEFAULT NULL,
    p_reference text DEFAULT NULL,
    p_source_event_id text DEFAULT NULL,
    p_source_event_type text DEFAULT NULL,
    p_batch_id uuid DEFAULT NULL,
    p_description text DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}',
    p_source jsonb DEFAULT NULL,
    OUT transaction_id uuid,
    OUT status text,
    OUT created boolean,
    OUT account_codes text[],
    OUT currencies text[],
    OUT normal_balances text[],
    OUT posted_debits bigint[],
    OUT posted_credits bigint[],
    OUT pending_debits bigint[],
    OUT pending_credits bigint[],
    OUT versions bigint[],
    OUT lock_versions bigint[]
)
    -- Generic plans for its statements (every one is a lookup by key): with the default, the facts
    -- query was planned afresh at every call (its custom plan looked cheaper), ~0.15 ms a posting.
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    legs constant integer := coalesce(cardinality(p_accounts), 0);
    conditions constant integer := coalesce(cardinality(p_condition_legs), 0);
    facts record;
    ids uuid[];
    pair record;
    bal ledger.balances;
    account_ids uuid[] := '{}';
    failures jsonb := '[]';
    margin numeric;
    mismatches jsonb;
    -- Inside ledger.post_many: a hint only (anyone can set it); what defers a balance's write is a
    -- row of ledger.batch_balance_deltas for it, which only post_many (the owner) makes.
    in_batch constant boolean := coalesce(current_setting('subledger.batch_call', true) = 'on', false);
    delta ledger.batch_balance_deltas;
    net numeric;
    problem text;
    leg integer;
    ignored text;
BEGIN
    -- What the read-only checks need, in one statement: the transaction stored under this key, the
    -- closed period effective_at falls in, a condition naming no leg, the accounts by code (their
    -- id is ledger.account_id_of(code), checked when created) and those of them, holding several
    -- currencies, whose lock_version a leg checks.
    -- Read a second time only after creating the accounts used for the first time.
    FOR attempt IN 1..2 LOOP
        SELECT stored.transaction_id AS stored_id, stored.status AS stored_status, stored.content_hash AS stored_hash,
               (SELECT c.period FROM ledger.closed_periods c
                 WHERE p_effective_at >= c.starts_at AND p_effective_at < c.ends_at LIMIT 1) AS closed_period,
               EXISTS (SELECT 1 FROM unnest(p_condition_legs) l WHERE l IS NULL OR l NOT BETWEEN 1 AND legs) AS stray_condition,
               known.ids, known.normals, known.missing, known.wrong_currency, known.whole_accounts
          INTO facts
          FROM (SELECT array_agg(a.account_id ORDER BY u.n) AS ids, array_agg(a.normal_balance ORDER BY u.n) AS normals,
                       min(u.code) FILTER (WHERE a.account_id IS NULL) AS missing,
                       min(format('account %s holds only %s, not %s', u.code, a.currency, u.currency))
                           FILTER (WHERE a.currency <> u.currency) AS wrong_currency,
                       array_agg(DISTINCT a.account_id)
                           FILTER (WHERE a.currency IS NULL AND p_lock_versions[u.n] IS NOT NULL) AS whole_accounts
                  FROM unnest(p_accounts, p_currencies) WITH ORDINALITY AS u(code, currency, n)
                  -- one index probe per leg (LIMIT 1: never a hash join over every account)
                  LEFT JOIN LATERAL (SELECT a.account_id, a.normal_balance, a.currency FROM ledger.accounts a
                                      WHERE a.code = u.code LIMIT 1) a ON true) known
          LEFT JOIN ledger.transactions stored ON stored.idempotency_key = p_idempotency_key;

        IF attempt = 1 THEN
            IF facts.stored_id IS NOT NULL THEN
                IF facts.stored_hash IS DISTINCT FROM p_content_hash THEN
                    PERFORM ledger.refuse_reused_key(p_idempotency_key, facts.stored_id);
                END IF;
                transaction_id := facts.stored_id;
                status := facts.stored_status;
                created := false;
                RETURN;
            END IF;
            IF p_status IS NULL OR p_status NOT IN ('posted', 'pending') THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'LDG04',
                    MESSAGE = format('transaction %s is posted as %s', p_idempotency_key, coalesce(p_status, 'NULL')),
                    HINT = 'A new transaction is posted or pending; archive a pending one after posting it.';
            END IF;
            IF legs = 0 THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'LDG07',
                    MESSAGE = format('transaction %s (%s) has no entries', p_transaction_id, p_idempotency_key),
                    HINT = 'Give at least two balancing legs.';
            END IF;
            IF legs IS DISTINCT FROM cardinality(p_directions) OR legs IS DISTINCT FROM cardinality(p_amounts)
               OR legs IS DISTINCT FROM cardinality(p_currencies)
               OR (p_lock_versions IS NOT NULL AND legs <> cardinality(p_lock_versions))
               OR conditions IS DISTINCT FROM coalesce(cardinality(p_condition_balances), 0)
               OR conditions IS DISTINCT FROM coalesce(cardinality(p_condition_ops), 0)
               OR conditions IS DISTINCT FROM coalesce(cardinality(p_condition_amounts), 0)
               OR facts.stray_condition THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'LDG05',
                    MESSAGE = format('transaction %s: the leg arrays (accounts, directions, amounts, currencies, lock versions) '
                                     'or the condition arrays differ in length, or a condition names no leg', p_idempotency_key),
                    HINT = 'Give one element per leg in each leg array and one per condition in each condition array.';
            END IF;
            -- The row rules of the transaction and of each entry it will write, which the insert
            -- triggers check for every other insert (ledger.transaction_row_problem.sql); each
            -- call is an expression put inline, not a query.
            problem := ledger.transaction_row_problem(p_transaction_id, p_idempotency_key, p_status,
                                                      CASE WHEN p_status = 'posted' THEN p_effective_at END, NULL,
                                                      coalesce(p_metadata, '{}'), NULL);
            IF problem IS NOT NULL THEN
                PERFORM ledger.refuse_broken_row('transactions', problem,
                                                 format('transaction %s, key %s', p_transaction_id, left(p_idempotency_key, 64)));
            END IF;
            FOR i IN 1 .. legs LOOP
                problem := ledger.entry_row_problem(i - 1, p_directions[i], p_amounts[i], p_currencies[i]);
                IF problem IS NOT NULL THEN
                    PERFORM ledger.refuse_broken_row('entries', problem, format('entry %s of transaction %s', i - 1, p_transaction_id));
                END IF;
            END LOOP;
            -- I1: per currency (each taken at its first leg), debits minus credits. Plpgsql
            -- expressions over the legs, not a grouping query: that query's executor start-up
            -- was 4% of a posting's server instructions (bench/README.md, issue 16).
            FOR i IN 1 .. legs LOOP
                CONTINUE WHEN array_position(p_currencies[1:i - 1], p_currencies[i]) IS NOT NULL;
                net := 0;
                FOR j IN i .. legs LOOP
                    IF p_currencies[j] IS NOT DISTINCT FROM p_currencies[i] THEN
                        net := net + coalesce(CASE p_directions[j] WHEN 'debit' THEN p_amounts[j] ELSE -p_amounts[j] END, 0);
                    END IF;
                END LOOP;
                IF net <> 0 THEN
                    RAISE EXCEPTION USING
                        ERRCODE = 'LDG01',
                        MESSAGE = format('transaction %s (%s) does not balance in %s: debits minus credits = %s',
                                         p_transaction_id, p_idempotency_key, p_currencies[i], net),
                        HINT = 'Per currency, the debit amounts of a transaction must equal its credit amounts.';
                END IF;
            END LOOP;
            IF facts.closed_period IS NOT NULL THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'LDG09',
                    MESSAGE = format('transaction %s is effective at %s, inside the closed period %s', p_idempotency_key,
                                     p_effective_at, facts.closed_period),
                    HINT = 'Date it in an open period, or reopen the period (subledger close --reopen) if finance agrees.';
            END IF;
        END IF;
        EXIT WHEN facts.missing IS NULL;
        IF attempt = 2 THEN
            RAISE EXCEPTION USING
                ERRCODE = 'LDG06',
                MESSAGE = format('account %s does not exist', facts.missing),
                HINT = 'Create the account first (its id is ledger.account_id_of(code)), in the currency it holds.';
        END IF;
        -- First use of an account: created as Ledger.post always did (ensure_accounts), checked by
        -- accounts_valid_on_insert; key order and ON CONFLICT for concurrent creators.
        INSERT INTO ledger.accounts (account_id, code, normal_balance)
        SELECT DISTINCT ledger.account_id_of(u.code), u.code, ledger.normal_balance_of(u.code)
          FROM unnest(p_accounts) AS u(code)
         WHERE NOT EXISTS (SELECT 1 FROM ledger.accounts a WHERE a.code = u.code)
         ORDER BY 1
        ON CONFLICT DO NOTHING;
    END LOOP;
    IF facts.wrong_currency IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG06',
            MESSAGE = facts.wrong_currency,
            HINT = 'Create the account first (its id is ledger.account_id_of(code)), in the currency it holds.';
    END IF;
    ids := facts.ids;

    -- The rows, which the insert triggers skip (the flag, ledger.accepted_by_posting_call):
    -- everything they check is checked here. Written before the balances are locked, so that a
    -- hot account's lock is held for as short a time as possible; a refusal below (LDG17, LDG18)
    -- takes them back with everything else. The month's entries partition is made here, since
    -- transactions_after_insert, which makes it for every other path, skips these rows (a lookup
    -- of the catalog when it exists, the usual case).
    ignored := set_config('subledger.posting_call', 'checked', true);  -- an assignment: no query
    IF to_regclass('ledger_partitions.' || ledger.entry_partition_name(p_effective_at)) IS NULL THEN
        PERFORM ledger.ensure_entry_partitions(p_effective_at, p_effective_at);
    END IF;
    INSERT INTO ledger.transactions (transaction_id, idempotency_key, status, effective_at, posted_at, reference,
                                     source_event_id, source_event_type, batch_id, content_hash, description,
                                     metadata, source)
    VALUES (p_transaction_id, p_idempotency_key, p_status, p_effective_at,
            CASE WHEN p_status = 'posted' THEN p_effective_at END, p_reference, p_source_event_id,
            p_source_event_type, p_batch_id, p_content_hash, p_description, coalesce(p_metadata, '{}'), p_source);
    INSERT INTO ledger.entries (transaction_id, entry_no, account_id, direction, amount, currency, effective_at)
    SELECT p_transaction_id, u.n - 1, u.id, u.direction, u.amount, u.currency, p_effective_at
      FROM unnest(ids, p_directions, p_amounts, p_currencies) WITH ORDINALITY AS u(id, direction, amount, currency, n);
    -- Cleared at once: the owner's next statements in this database transaction fire every
    -- trigger again. (A refusal needs no clearing: the (sub)transaction that aborts takes the
    -- setting with it.)
    ignored := set_config('subledger.posting_call', '', true);

    -- A checked account of several currencies: every balance row of it locked before any is
    -- changed, so no posting in another currency changes its lock_version until this one ends.
    IF facts.whole_accounts IS NOT NULL THEN
        PERFORM 1 FROM ledger.lock_balances(ids, p_currencies, facts.whole_accounts);
    END IF;

    -- The cached balances, locked and changed in (account_id, currency) order, each as the row
    -- stands after this transaction (with the code and normal balance of its first leg).
    IF NOT in_batch THEN
        -- One upsert for all of them: INSERT ... SELECT ... ORDER BY writes (and so locks) the rows
        -- in the order of its sorted source, whatever the plan; a balance the account never had
        -- is made (ON CONFLICT: a concurrent first one). One statement, not one per balance plus
        -- a query for the pairs: each statement's executor start, CHECK and trigger WHEN cost a
        -- posting ~50k instructions (bench/README.md, issue 16).
        FOR bal IN
            INSERT INTO ledger.balances AS b
                   (account_id, currency, posted_debits, posted_credits, pending_debits, pending_credits, version)
            SELECT u.id, u.currency,
                   coalesce(sum(u.amount) FILTER (WHERE p_status = 'posted' AND u.direction = 'debit'), 0),
                   coalesce(sum(u.amount) FILTER (WHERE p_status = 'posted' AND u.direction = 'credit'), 0),
                   coalesce(sum(u.amount) FILTER (WHERE p_status = 'pending' AND u.direction = 'debit'), 0),
                   coalesce(sum(u.amount) FILTER (WHERE p_status = 'pending' AND u.direction = 'credit'), 0),
                   count(*)
              FROM unnest(ids, p_directions, p_amounts, p_currencies) AS u(id, direction, amount, currency)
             GROUP BY u.id, u.currency
             ORDER BY u.id, u.currency
            ON CONFLICT (account_id, currency) DO UPDATE SET
                   posted_debits = b.posted_debits + excluded.posted_debits,
                   posted_credits = b.posted_credits + excluded.posted_credits,
                   pending_debits = b.pending_debits + excluded.pending_debits,
                   pending_credits = b.pending_credits + excluded.pending_credits,
                   version = b.version + excluded.version,
                   updated_at = now()
            RETURNING b.*
        LOOP
            leg := array_position(ids, bal.account_id);
            account_ids := account_ids || bal.account_id;
            account_codes := account_codes || p_accounts[leg];
            currencies := currencies || bal.currency;
            normal_balances := normal_balances || facts.normals[leg];
            posted_debits := posted_debits || bal.posted_debits;
            posted_credits := posted_credits || bal.posted_credits;
            pending_debits := pending_debits || bal.pending_debits;
            pending_credits := pending_credits || bal.pending_credits;
            versions := versions || bal.version;
        END LOOP;
    ELSE
        -- Inside ledger.post_many: one balance at a time, since a balance it keeps running sums
        -- for (ledger.batch_balance_deltas) is not written: the sums are.
        FOR pair IN
            SELECT u.id, u.currency,
                   coalesce(sum(u.amount) FILTER (WHERE p_status = 'posted' AND u.direction = 'debit'), 0) AS pd,
                   coalesce(sum(u.amount) FILTER (WHERE p_status = 'posted' AND u.direction = 'credit'), 0) AS pc,
                   coalesce(sum(u.amount) FILTER (WHERE p_status = 'pending' AND u.direction = 'debit'), 0) AS qd,
                   coalesce(sum(u.amount) FILTER (WHERE p_status = 'pending' AND u.direction = 'credit'), 0) AS qc,
                   count(*) AS entries
              FROM unnest(ids, p_directions, p_amounts, p_currencies) AS u(id, direction, amount, currency)
             GROUP BY u.id, u.currency
             ORDER BY u.id, u.currency
        LOOP
            UPDATE ledger.batch_balance_deltas d
               SET posted_debits = d.posted_debits + pair.pd, posted_credits = d.posted_credits + pair.pc,
                   pending_debits = d.pending_debits + pair.qd, pending_credits = d.pending_credits + pair.qc,
                   entries = d.entries + pair.entries
             WHERE d.xid = pg_current_xact_id() AND d.account_id = pair.id AND d.currency = pair.currency
            RETURNING d.* INTO delta;
            IF FOUND THEN  -- the balance as it will be: the row (locked by post_many) plus the sums
                SELECT b.* INTO bal FROM ledger.balances b WHERE b.account_id = pair.id AND b.currency = pair.currency;
                bal.posted_debits := bal.posted_debits + delta.posted_debits;
                bal.posted_credits := bal.posted_credits + delta.posted_credits;
                bal.pending_debits := bal.pending_debits + delta.pending_debits;
                bal.pending_credits := bal.pending_credits + delta.pending_credits;
                bal.version := bal.version + delta.entries;
            ELSE
                INSERT INTO ledger.balances AS b
                       (account_id, currency, posted_debits, posted_credits, pending_debits, pending_credits, version)
                VALUES (pair.id, pair.currency, pair.pd, pair.pc, pair.qd, pair.qc, pair.entries)
                ON CONFLICT (account_id, currency) DO UPDATE SET
                       posted_debits = b.posted_debits + excluded.posted_debits,
                       posted_credits = b.posted_credits + excluded.posted_credits,
                       pending_debits = b.pending_debits + excluded.pending_debits,
                       pending_credits = b.pending_credits + excluded.pending_credits,
                       version = b.version + excluded.version,
                       updated_at = now()
                RETURNING b.* INTO bal;
            END IF;
            leg := array_position(ids, pair.id);
            account_ids := account_ids || pair.id;
            account_codes := account_codes || p_accounts[leg];
            currencies := currencies || pair.currency;
            normal_balances := normal_balances || facts.normals[leg];
            posted_debits := posted_debits || bal.posted_debits;
            posted_credits := posted_credits || bal.posted_credits;
            pending_debits := pending_debits || bal.pending_debits;
            pending_credits := pending_credits || bal.pending_credits;
            versions := versions || bal.version;
        END LOOP;
    END IF;

    -- The balance conditions, each on its leg's balance as written above: a few plpgsql
    -- expressions, no query (which would cost an executor start).
    FOR c IN 1 .. conditions LOOP
        leg := 1;  -- the balance of the condition's leg
        WHILE account_ids[leg] <> ids[p_condition_legs[c]] OR currencies[leg] <> p_currencies[p_condition_legs[c]] LOOP
            leg := leg + 1;
        END LOOP;
        -- The balance less the bound, compared with zero: fewer function calls than comparing the
        -- balance with the bound in each branch (each is prepared afresh in every database transaction).
        margin := ledger.balance_value(p_condition_balances[c], normal_balances[leg], posted_debits[leg],
                                       posted_credits[leg], pending_debits[leg], pending_credits[leg])
                  - p_condition_amounts[c];
        IF (CASE p_condition_ops[c] WHEN 'gte' THEN margin >= 0 WHEN 'lte' THEN margin <= 0
                                    WHEN 'eq' THEN margin = 0 END) IS NOT TRUE THEN
            failures := failures || jsonb_build_array(jsonb_build_object(
                'n', c, 'account', account_codes[leg], 'currency', currencies[leg], 'balance', p_condition_balances[c],
                'op', p_condition_ops[c], 'bound', p_condition_amounts[c], 'actual', margin + p_condition_amounts[c]));
        END IF;
    END LOOP;

    -- Each account's lock_version after this transaction, read under the locks taken above; before
    -- it, one less per entry of it here.
    lock_versions := ledger.lock_versions(account_ids);
    IF in_batch THEN  -- plus what post_many has not written yet
        lock_versions := ARRAY(SELECT u.v + coalesce((SELECT sum(d.entries) FROM ledger.batch_balance_deltas d
                                                       WHERE d.xid = pg_current_xact_id() AND d.account_id = u.id), 0)
                                 FROM unnest(account_ids, lock_versions) WITH ORDINALITY AS u(id, v, n) ORDER BY u.n);
    END IF;

    IF p_lock_versions IS NOT NULL THEN
        SELECT jsonb_agg(jsonb_build_object('account', p_accounts[l.n], 'expected', p_lock_versions[l.n], 'actual', v.before)
                         ORDER BY l.n) INTO mismatches
          FROM generate_subscripts(p_accounts, 1) AS l(n)
          JOIN (SELECT DISTINCT r.id, r.after - (SELECT count(*) FROM unnest(ids) AS i(id) WHERE i.id = r.id) AS before
                  FROM unnest(account_ids, lock_versions) AS r(id, after)) v ON v.id = ids[l.n]
         WHERE p_lock_versions[l.n] IS NOT NULL AND p_lock_versions[l.n] <> v.before;
        IF mismatches IS NOT NULL THEN
            RAISE EXCEPTION USING
                ERRCODE = 'LDG17',
                MESSAGE = format('transaction %s: a leg''s lock_version is stale', p_idempotency_key),
                DETAIL = mismatches::text,
                HINT = 'Re-read the account (its balance and lock_version) and retry with the current version.';
        END IF;
    END IF;
    IF failures <> '[]' THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG18',
            MESSAGE = format('transaction %s: a balance condition would not hold', p_idempotency_key),
            DETAIL = (SELECT jsonb_agg(f - 'n' ORDER BY (f ->> 'n')::bigint) FROM jsonb_array_elements(failures) f)::text,
            HINT = 'Nothing was written; retry when the balance allows it or change the amount.';
    END IF;

    transaction_id := p_transaction_id;
    status := p_status;
    created := true;
END
$$;

REVOKE ALL ON FUNCTION ledger.post_transaction(uuid, text, text, timestamptz, text, text[], text[], bigint[], text[], bigint[],
                                               integer[], text[], text[], bigint[], text, text, text, uuid, text, jsonb, jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.post_transaction(uuid, text, text, timestamptz, text, text[], text[], bigint[], text[], bigint[],
                                                  integer[], text[], text[], bigint[], text, text, text, uuid, text, jsonb, jsonb)
    TO subledger_writer;
