-- ledger.check_at_commit(): I1 at commit (deferred constraint trigger balanced_at_commit on
-- ledger.commit_checks, armed once per database transaction): every transaction created in the
-- database transaction has entries (LDG07) and balances per currency (LDG01), and every reversal
-- created in it mirrors its target (LDG04, ledger.mismatched_reversal). Legs may arrive in
-- several statements; SET CONSTRAINTS ... IMMEDIATE cannot dodge it (entries_after_insert re-arms it).
CREATE OR REPLACE FUNCTION ledger.check_at_commit() RETURNS trigger
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

    SELECT m.transaction_id, m.idempotency_key, m.target_id INTO bad FROM ledger.mismatched_reversal(NEW.xid) m;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG04',
            MESSAGE = format('transaction %s (%s) reverses %s but its entries are not that transaction''s with debit and credit swapped',
                             bad.transaction_id, bad.idempotency_key, bad.target_id),
            HINT = 'A reversal copies every leg of its target (account, currency, amount) on the other side; '
                   'post any other correction as a new transaction without reverses_transaction_id.';
    END IF;

    DELETE FROM ledger.unbalanced_nets WHERE xid = NEW.xid;
    DELETE FROM ledger.commit_checks WHERE xid = NEW.xid;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ledger.check_at_commit() FROM PUBLIC;

-- CREATE OR REPLACE does not take constraint triggers: created once, left as they are after.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                    WHERE tgrelid = 'ledger.commit_checks'::regclass AND tgname = 'balanced_at_commit') THEN
        CREATE CONSTRAINT TRIGGER balanced_at_commit AFTER INSERT ON ledger.commit_checks
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION ledger.check_at_commit();
    END IF;
END
$$;
