-- depends: 0002_ledger_tables
--
-- The guards that make Postgres itself keep the ledger honest. Each raises a SQLSTATE of class
-- 'LD' that ledger_pipelines.ledger.errors maps to a typed Python exception:
--
--   LDG01  a transaction does not balance per currency at commit          (invariant I1)
--   LDG02  UPDATE/DELETE/TRUNCATE of an entry or audit row                (I2, I8)
--   LDG03  a change to a posted/archived transaction or immutable column  (I3)
--   LDG04  a lifecycle move other than pending->posted/archived           (I4)
--   LDG05  an entry outside the database transaction that created its transaction,
--          or for a missing/archived transaction, or with another effective_at (I5)
--   LDG06  an entry for an unknown account or a currency the account refuses (I6)
--   LDG07  a transaction without entries at commit                        (I1)
--
-- Statement-level triggers with transition tables do the set-based work (one call per COPY or
-- INSERT, not one per row); the deferred constraint trigger on ledger.commit_checks runs once per
-- database transaction at commit.

-- ---------------------------------------------------------------------------------------------
-- Append-only tables
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION ledger.reject_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = TG_ARGV[0],
        MESSAGE = format('%I.%I is append-only: %s is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP),
        HINT = TG_ARGV[1];
END
$$;

CREATE TRIGGER entries_are_immutable BEFORE UPDATE OR DELETE ON ledger.entries
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG02', 'To correct a posting, reverse its transaction and post a new one.');
CREATE TRIGGER entries_are_not_truncated BEFORE TRUNCATE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG02', 'To correct a posting, reverse its transaction and post a new one.');
CREATE TRIGGER transactions_are_not_deleted BEFORE DELETE ON ledger.transactions
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG03', 'Archive a pending transaction or reverse a posted one.');
CREATE TRIGGER transactions_are_not_truncated BEFORE TRUNCATE ON ledger.transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG03', 'Archive a pending transaction or reverse a posted one.');
CREATE TRIGGER audit_log_is_immutable BEFORE UPDATE OR DELETE ON ledger.audit_log
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG02', 'The audit log only grows; record a new action instead.');
CREATE TRIGGER audit_log_is_not_truncated BEFORE TRUNCATE ON ledger.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG02', 'The audit log only grows; record a new action instead.');
CREATE TRIGGER accounts_are_not_deleted BEFORE DELETE ON ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG03', 'Accounts are permanent; stop posting to an account instead.');
CREATE TRIGGER accounts_are_not_truncated BEFORE TRUNCATE ON ledger.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change('LDG03', 'Accounts are permanent; stop posting to an account instead.');

-- ---------------------------------------------------------------------------------------------
-- Accounts: identity is permanent; metadata changes are audited; path categories follow codes.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION ledger.accounts_valid_on_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
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
    RETURN NEW;
END
$$;
CREATE TRIGGER accounts_valid_on_insert BEFORE INSERT ON ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION ledger.accounts_valid_on_insert();

CREATE FUNCTION ledger.accounts_after_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
BEGIN
    -- Every prefix of every new code becomes a 'path' category, parents first.
    INSERT INTO ledger.categories (code, kind, parent_code)
    SELECT DISTINCT ON (prefix) prefix, 'path', parent
      FROM (
        SELECT array_to_string(segments[1:n], ':') AS prefix,
               CASE WHEN n > 1 THEN array_to_string(segments[1:n - 1], ':') END AS parent,
               n
          FROM (SELECT string_to_array(code, ':') AS segments FROM new_accounts) s,
               generate_series(1, cardinality(s.segments)) AS n
      ) p
     ORDER BY prefix, n
    ON CONFLICT (code) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER accounts_make_path_categories AFTER INSERT ON ledger.accounts
    REFERENCING NEW TABLE AS new_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.accounts_after_insert();

-- Set-based (one check per statement, not per row: lock_version bumps touch many accounts):
-- identity never changes, lock_version never goes back, metadata changes are audited.
CREATE FUNCTION ledger.accounts_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    -- Transition tables carry no statistics; a nested loop over two of them is quadratic.
    SET enable_nestloop = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT o.code, o.lock_version AS old_version, n.lock_version AS new_version,
           (n.code, n.normal_balance, n.currency, n.created_at) IS DISTINCT FROM (o.code, o.normal_balance, o.currency, o.created_at) AS identity_changed
      INTO bad
      FROM new_accounts n JOIN old_accounts o USING (account_id)
     WHERE (n.code, n.normal_balance, n.currency, n.created_at) IS DISTINCT FROM (o.code, o.normal_balance, o.currency, o.created_at)
        OR n.lock_version < o.lock_version
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG03',
            MESSAGE = CASE WHEN bad.identity_changed
                           THEN format('account %s: code, normal balance, currency and creation time cannot change', bad.code)
                           ELSE format('account %s: lock_version only grows (%s -> %s)', bad.code, bad.old_version, bad.new_version) END,
            HINT = 'Open a new account and move the balance with a journal transaction.';
    END IF;
    INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
    SELECT 'account.metadata_changed', 'account', n.code,
           jsonb_build_object('metadata', o.metadata), jsonb_build_object('metadata', n.metadata)
      FROM new_accounts n JOIN old_accounts o USING (account_id)
     WHERE n.metadata IS DISTINCT FROM o.metadata;
    RETURN NULL;
END
$$;
CREATE TRIGGER accounts_audit_metadata AFTER UPDATE ON ledger.accounts
    REFERENCING OLD TABLE AS old_accounts NEW TABLE AS new_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.accounts_after_update();

-- ---------------------------------------------------------------------------------------------
-- Transactions: insert checks, the lifecycle, reversals, audit.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION ledger.transactions_after_insert() RETURNS trigger
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

    SELECT n.transaction_id, n.status, r.status AS target_status, r.transaction_id AS target_id
      INTO bad
      FROM new_transactions n
      JOIN ledger.transactions r ON r.transaction_id = n.reverses_transaction_id
     WHERE n.status <> 'posted' OR r.status <> 'posted'
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('transaction %s reverses %s, which is %s; a reversal must be posted and reverse a posted transaction',
                             bad.transaction_id, bad.target_id, bad.target_status),
            HINT = 'Archive a pending transaction instead of reversing it.';
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
CREATE TRIGGER transactions_check_inserts AFTER INSERT ON ledger.transactions
    REFERENCING NEW TABLE AS new_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.transactions_after_insert();

-- Immutable columns: everything but the lifecycle fields. New columns are immutable by default.
CREATE FUNCTION ledger.transactions_before_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    lifecycle_columns constant text[] := ARRAY['status', 'posted_at', 'archived_at', 'transition_key', 'transition_hash', 'status_changed_at', 'changed_xid'];
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
    IF (to_jsonb(NEW) - lifecycle_columns) IS DISTINCT FROM (to_jsonb(OLD) - lifecycle_columns) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG03',
            MESSAGE = format('transaction %s (%s): only status, posted_at, archived_at and transition_key/hash may change', OLD.transaction_id, OLD.idempotency_key);
    END IF;
    NEW.status_changed_at := now();
    NEW.changed_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
CREATE TRIGGER transactions_lifecycle_only BEFORE UPDATE ON ledger.transactions
    FOR EACH ROW EXECUTE FUNCTION ledger.transactions_before_update();

-- A lifecycle move carries the moved entries from the pending to the posted columns (posted) or
-- out of the cache (archived), bumps versions, and writes the audit log -- all in this statement.
CREATE FUNCTION ledger.transactions_after_update() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    -- Transition tables carry no statistics; a nested loop over two of them is quadratic.
    SET enable_nestloop = off AS $$
BEGIN
    -- Lock what the move changes in the global order (balances, then accounts, by key).
    PERFORM 1 FROM ledger.balances b
     WHERE (b.account_id, b.currency) IN (
            SELECT e.account_id, e.currency FROM new_rows n JOIN ledger.entries e ON e.transaction_id = n.transaction_id)
     ORDER BY b.account_id, b.currency FOR UPDATE;
    PERFORM 1 FROM ledger.accounts a
     WHERE a.account_id IN (SELECT e.account_id FROM new_rows n JOIN ledger.entries e ON e.transaction_id = n.transaction_id)
     ORDER BY a.account_id FOR UPDATE;

    WITH moved AS (
        SELECT n.transaction_id, n.status
          FROM new_rows n JOIN old_rows o ON o.transaction_id = n.transaction_id
         WHERE o.status = 'pending' AND n.status <> 'pending'
    ), deltas AS (
        SELECT e.account_id, e.currency,
               coalesce(sum(e.amount) FILTER (WHERE m.status = 'posted' AND e.direction = 'debit'), 0) AS posted_debits,
               coalesce(sum(e.amount) FILTER (WHERE m.status = 'posted' AND e.direction = 'credit'), 0) AS posted_credits,
               coalesce(sum(e.amount) FILTER (WHERE e.direction = 'debit'), 0) AS pending_debits,
               coalesce(sum(e.amount) FILTER (WHERE e.direction = 'credit'), 0) AS pending_credits,
               count(*) AS moves
          FROM moved m JOIN ledger.entries e ON e.transaction_id = m.transaction_id
         GROUP BY e.account_id, e.currency
    ), cache AS (
        UPDATE ledger.balances b
           SET posted_debits = b.posted_debits + d.posted_debits,
               posted_credits = b.posted_credits + d.posted_credits,
               pending_debits = b.pending_debits - d.pending_debits,
               pending_credits = b.pending_credits - d.pending_credits,
               version = b.version + d.moves,
               updated_at = now()
          FROM deltas d
         WHERE b.account_id = d.account_id AND b.currency = d.currency
        RETURNING 1
    )
    UPDATE ledger.accounts a
       SET lock_version = a.lock_version + m.moves
      FROM (SELECT account_id, sum(moves) AS moves FROM deltas GROUP BY account_id) m
     WHERE a.account_id = m.account_id;

    INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
    SELECT 'transaction.' || n.status, 'transaction', n.transaction_id::text,
           jsonb_build_object('status', o.status),
           jsonb_build_object('status', n.status, 'posted_at', n.posted_at, 'archived_at', n.archived_at,
                              'transition_key', n.transition_key)
      FROM new_rows n JOIN old_rows o ON o.transaction_id = n.transaction_id
     WHERE o.status = 'pending' AND n.status <> 'pending';
    RETURN NULL;
END
$$;
CREATE TRIGGER transactions_apply_lifecycle AFTER UPDATE ON ledger.transactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.transactions_after_update();

-- ---------------------------------------------------------------------------------------------
-- Entries: set-based existence checks, per-statement nets, cached balances, lock versions.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION ledger.entries_after_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    this_xid constant xid8 := pg_current_xact_id();
    bad record;
    bad_entries bigint;
BEGIN
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
    -- transaction (found through the changed_xid index) feeds the nets, the cache and the lock
    -- versions. A balance's version (and its account's lock_version) grows by one per entry
    -- that changes it.
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
    ), nets AS (
        -- Only transactions this statement leaves unbalanced are recorded for the commit check.
        INSERT INTO ledger.unbalanced_nets AS u (xid, transaction_id, currency, net)
        SELECT this_xid, transaction_id, currency, net
          FROM (SELECT transaction_id, currency, sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) AS net
                  FROM joined GROUP BY transaction_id, currency) s
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
    ), versions AS (
        UPDATE ledger.accounts a
           SET lock_version = a.lock_version + d.entries
          FROM (SELECT account_id, sum(entries) AS entries FROM pairs GROUP BY account_id) d
         WHERE a.account_id = d.account_id
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
CREATE TRIGGER entries_check_and_cache AFTER INSERT ON ledger.entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.entries_after_insert();

-- ---------------------------------------------------------------------------------------------
-- The commit check: every transaction created in this database transaction has entries and
-- balances per currency.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION ledger.check_at_commit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    -- The planner cannot know how many rows carry this xid (statistics predate the batch); a
    -- nested loop over a whole batch would probe the index once per transaction.
    SET enable_nestloop = off AS $$
DECLARE
    bad record;
    created bigint;
    with_entries bigint;
    lowest uuid;
    highest uuid;
BEGIN
    SELECT u.transaction_id, u.currency, u.net, t.idempotency_key INTO bad
      FROM ledger.unbalanced_nets u
      LEFT JOIN ledger.transactions t ON t.transaction_id = u.transaction_id
     WHERE u.xid = NEW.xid AND u.net <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG01',
            MESSAGE = format('transaction %s (%s) does not balance in %s: debits minus credits = %s',
                             bad.transaction_id, bad.idempotency_key, bad.currency, bad.net),
            HINT = 'Per currency, the debit amounts of a transaction must equal its credit amounts.';
    END IF;

    -- Every transaction created here has entries. Counted over the entries' primary key between
    -- the smallest and largest new transaction id (UUIDv7 ids of one batch are close together),
    -- instead of probing the index once per transaction; the slow search runs only on failure.
    -- (min/max(uuid) arrive only in Postgres 16; text in the C collation orders like the bytes.)
    SELECT count(*), min(t.transaction_id::text COLLATE "C")::uuid, max(t.transaction_id::text COLLATE "C")::uuid
      INTO created, lowest, highest
      FROM ledger.transactions t
     WHERE t.changed_xid = NEW.xid AND t.created_xid = NEW.xid;
    IF created > 0 THEN
        SELECT count(DISTINCT e.transaction_id) INTO with_entries
          FROM ledger.entries e
         WHERE e.transaction_id BETWEEN lowest AND highest
           AND e.transaction_id IN (SELECT t.transaction_id FROM ledger.transactions t
                                     WHERE t.changed_xid = NEW.xid AND t.created_xid = NEW.xid);
        IF with_entries < created THEN
            SELECT t.transaction_id, t.idempotency_key INTO bad
              FROM ledger.transactions t
             WHERE t.changed_xid = NEW.xid AND t.created_xid = NEW.xid
               AND NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.transaction_id = t.transaction_id)
             LIMIT 1;
            RAISE EXCEPTION USING
                ERRCODE = 'LDG07',
                MESSAGE = format('transaction %s (%s) has no entries', bad.transaction_id, bad.idempotency_key),
                HINT = 'Insert at least two balancing entries in the same database transaction.';
        END IF;
    END IF;

    DELETE FROM ledger.unbalanced_nets WHERE xid = NEW.xid;
    DELETE FROM ledger.commit_checks WHERE xid = NEW.xid;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER balanced_at_commit AFTER INSERT ON ledger.commit_checks
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger.check_at_commit();

-- ---------------------------------------------------------------------------------------------
-- Group categories and memberships are audited.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION ledger.categories_audit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    -- Transition tables carry no statistics; a nested loop over two of them is quadratic.
    SET enable_nestloop = off AS $$
BEGIN
    IF TG_TABLE_NAME = 'categories' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO ledger.audit_log (action, target_type, target_id, after)
            SELECT 'category.created', 'category', n.code, to_jsonb(n) FROM new_rows n WHERE n.kind = 'group';
        ELSE
            INSERT INTO ledger.audit_log (action, target_type, target_id, before, after)
            SELECT 'category.changed', 'category', n.code, to_jsonb(o), to_jsonb(n)
              FROM new_rows n JOIN old_rows o USING (code) WHERE to_jsonb(n) IS DISTINCT FROM to_jsonb(o);
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO ledger.audit_log (action, target_type, target_id, after)
        SELECT 'category.member_added', 'category', n.category_code,
               jsonb_build_object('account', (SELECT code FROM ledger.accounts a WHERE a.account_id = n.account_id))
          FROM new_rows n;
    ELSE
        INSERT INTO ledger.audit_log (action, target_type, target_id, before)
        SELECT 'category.member_removed', 'category', o.category_code,
               jsonb_build_object('account', (SELECT code FROM ledger.accounts a WHERE a.account_id = o.account_id))
          FROM old_rows o;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER categories_audit_insert AFTER INSERT ON ledger.categories
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger.categories_audit();
CREATE TRIGGER categories_audit_update AFTER UPDATE ON ledger.categories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger.categories_audit();
CREATE TRIGGER category_members_audit_insert AFTER INSERT ON ledger.category_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger.categories_audit();
CREATE TRIGGER category_members_audit_delete AFTER DELETE ON ledger.category_members
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger.categories_audit();
CREATE TRIGGER categories_are_not_deleted BEFORE DELETE ON ledger.categories
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change('LDG03', 'Categories are permanent; remove its members instead.');
