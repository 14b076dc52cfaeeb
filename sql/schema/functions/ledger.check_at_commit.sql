-- ledger.check_at_commit(): I1 at commit (deferred constraint trigger balanced_at_commit on
-- ledger.commit_checks, armed once per database transaction): every transaction created in the
-- database transaction has entries (LDG07) and balances per currency (LDG01), and every reversal
-- created in it mirrors its target (LDG04, ledger.mismatched_reversal). Legs may arrive in
-- several statements; SET CONSTRAINTS ... IMMEDIATE cannot dodge it (entries_after_insert re-arms it).
CREATE OR REPLACE FUNCTION ledger.check_at_commit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog
    AS $$
DECLARE
    bad record;
    created numeric;
    with_entries numeric;
    disjoint boolean;
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

    -- Every transaction created here has entries. The insert triggers tallied, per statement, how
    -- many transactions were created (transactions_after_insert) and how many distinct ones got
    -- entries, with the range of their ids (entries_after_insert); every entry belongs to a
    -- transaction created here (LDG05). When the entries statements' id ranges do not overlap,
    -- their tallies count distinct transactions, so equal totals mean every new transaction has
    -- entries, without reading them again. Otherwise (legs of one transaction in several
    -- statements, or a total short) each new transaction's entries are probed in the partition of
    -- its month (OFFSET 0 keeps the probe per transaction, pruned at run time).
    SELECT coalesce(sum(c.transactions) FILTER (WHERE c.kind = 'transactions'), 0),
           coalesce(sum(c.transactions) FILTER (WHERE c.kind = 'entries'), 0),
           NOT EXISTS (SELECT 1
                         FROM (SELECT e.lowest, lag(e.highest) OVER (ORDER BY e.lowest, e.highest) AS previous_highest
                                 FROM ledger.commit_tallies e
                                WHERE e.xid = NEW.xid AND e.kind = 'entries' AND e.transactions > 0) r
                        WHERE r.lowest <= r.previous_highest)
      INTO created, with_entries, disjoint
      FROM ledger.commit_tallies c
     WHERE c.xid = NEW.xid;
    IF NOT (disjoint AND with_entries = created) THEN
        SELECT t.transaction_id, t.idempotency_key INTO bad
          FROM ledger.transactions t
         WHERE t.changed_xid = NEW.xid AND t.created_xid = NEW.xid
           AND NOT EXISTS (SELECT 1 FROM ledger.entries e
                            WHERE e.transaction_id = t.transaction_id AND e.effective_at = t.effective_at OFFSET 0)
         LIMIT 1;
        IF FOUND THEN
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

    -- The tallies of this database transaction stay until it ends (a check run early by SET
    -- CONSTRAINTS ... IMMEDIATE must not forget what the next one needs); those of finished ones go.
    DELETE FROM ledger.commit_tallies WHERE xid < pg_snapshot_xmin(pg_current_snapshot());
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
