-- ledger.replace_anchors(...): the only writer of balance anchors (I14). The warehouse proposes the
-- anchors of one computation (run): the Postgres snapshot it read the ledger at, the days it covered,
-- and per account/currency/instant the four sums and the entry count (arrays, one element per
-- anchor). In one statement's transaction this replaces the stored anchors of
-- [replace_from, replace_until] with them, then refuses the whole call (LDG10) if
--   * the snapshot is not one the ledger has reached (it would count transactions still running);
--   * an anchor lies outside [replace_from, replace_until];
--   * an anchor differs from the entries, or
--   * a lifecycle move is left without the anchor balance_at relies on (ledger.anchor_gaps; the moves
--     dated from two days before the range on: no other move's anchors change).
-- An anchor is checked against the anchor before it plus what changed since (ledger.expected_anchors,
-- read before anything is replaced: the stored anchors are its bases), so a run costs what changed
-- since the last verified anchors, not the history. Where that disagrees with the proposal -- the
-- proposal is wrong, or a stored base is (changed by the owner, who can bypass this function) --
-- the whole run is recomputed from every entry (ledger.recompute_anchors), which decides; a wrong
-- base is then left to `subledger verify` (anchors_match), which recomputes every stored anchor.
-- The run's taken_at is stamped here, after the snapshot is checked: everything the snapshot saw
-- was created and moved before it (balance_at's --known-at eligibility). Runs no anchor refers to
-- any more are dropped. SECURITY DEFINER: the writer may execute it, but has no INSERT, UPDATE or
-- DELETE on the anchor tables. Returns the number of anchors written.
CREATE OR REPLACE FUNCTION ledger.replace_anchors(
    p_run_id uuid, p_snapshot pg_snapshot, p_first_day date, p_last_day date, p_covered_until timestamptz,
    p_timezone text, p_replace_from timestamptz, p_replace_until timestamptz,
    p_account_ids uuid[], p_currencies text[], p_anchor_ats timestamptz[],
    p_posted_debits bigint[], p_posted_credits bigint[], p_pending_debits bigint[], p_pending_credits bigint[],
    p_entry_counts bigint[]
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ledger, pg_catalog AS $$
DECLARE
    written bigint;
    replaced_ids uuid[];
    replaced_currencies text[];
    bad record;
    disagreeing bigint;
BEGIN
    IF p_replace_from IS NULL OR p_replace_until IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG10',
            MESSAGE = format('anchor run %s: the range it replaces must be given (%s .. %s)', p_run_id, p_replace_from, p_replace_until),
            HINT = 'Pass the first and last instant of the days the run computed.';
    END IF;
    IF pg_snapshot_xmax(p_snapshot) > pg_snapshot_xmax(pg_current_snapshot())
       OR EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) AS x(xid) WHERE pg_visible_in_snapshot(x.xid, p_snapshot)) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG10',
            MESSAGE = format('anchor run %s: snapshot %s is not one the ledger has reached (it sees transactions that are still running or not started)',
                             p_run_id, p_snapshot),
            HINT = 'Compute anchors from a snapshot of a committed read of the ledger (pg_current_snapshot() of the mirror read).';
    END IF;

    INSERT INTO ledger.balance_anchor_runs (run_id, snapshot, snapshot_xmin, taken_at, first_day, last_day, covered_until, timezone)
    VALUES (p_run_id, p_snapshot, pg_snapshot_xmin(p_snapshot), clock_timestamp(), p_first_day, p_last_day, p_covered_until, p_timezone);

    SELECT count(*) INTO disagreeing
      FROM ledger.expected_anchors(p_snapshot, p_account_ids, p_currencies, p_anchor_ats, p_posted_debits, p_posted_credits,
                                   p_pending_debits, p_pending_credits, p_entry_counts) x
      JOIN unnest(p_account_ids, p_currencies, p_anchor_ats, p_posted_debits, p_posted_credits, p_pending_debits,
                  p_pending_credits, p_entry_counts) AS u(account_id, currency, anchor_at, pd, pc, qd, qc, n)
        ON u.account_id = x.account_id AND u.currency = x.currency AND u.anchor_at = x.anchor_at
     WHERE (x.posted_debits, x.posted_credits, x.pending_debits, x.pending_credits, x.entry_count)
           IS DISTINCT FROM (u.pd, u.pc, u.qd, u.qc, u.n);

    WITH replaced AS (
        DELETE FROM ledger.balance_anchors a WHERE a.anchor_at BETWEEN p_replace_from AND p_replace_until
        RETURNING a.account_id, a.currency
    )
    SELECT coalesce(array_agg(p.account_id), '{}'), coalesce(array_agg(p.currency), '{}')
      INTO replaced_ids, replaced_currencies
      FROM (SELECT DISTINCT r.account_id, r.currency FROM replaced r) p;

    INSERT INTO ledger.balance_anchors (account_id, currency, anchor_at, run_id, posted_debits, posted_credits,
                                        pending_debits, pending_credits, entry_count)
    SELECT u.account_id, u.currency, u.anchor_at, p_run_id, u.pd, u.pc, u.qd, u.qc, u.n
      FROM unnest(p_account_ids, p_currencies, p_anchor_ats, p_posted_debits, p_posted_credits, p_pending_debits,
                  p_pending_credits, p_entry_counts) AS u(account_id, currency, anchor_at, pd, pc, qd, qc, n);
    GET DIAGNOSTICS written = ROW_COUNT;

    SELECT a.account_id, a.currency, a.anchor_at INTO bad
      FROM ledger.balance_anchors a
     WHERE a.run_id = p_run_id AND a.anchor_at NOT BETWEEN p_replace_from AND p_replace_until
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG10',
            MESSAGE = format('anchor run %s: the anchor of account %s %s at %s is outside the range it replaces (%s .. %s)',
                             p_run_id, bad.account_id, bad.currency, bad.anchor_at, p_replace_from, p_replace_until),
            HINT = 'Replace a range that holds every proposed anchor.';
    END IF;

    IF disagreeing > 0 THEN
        -- the recomputation runs once (MATERIALIZED): joined directly, the planner, which cannot know
        -- how many anchors were just written, may rerun it for every proposed anchor
        WITH r AS MATERIALIZED (SELECT * FROM ledger.recompute_anchors(p_run_id))
        SELECT a.account_id, a.currency, a.anchor_at, c.code,
               format('posted %s/%s, pending %s/%s, %s entries', a.posted_debits, a.posted_credits, a.pending_debits,
                      a.pending_credits, a.entry_count) AS proposed,
               format('posted %s/%s, pending %s/%s, %s entries', r.posted_debits, r.posted_credits, r.pending_debits,
                      r.pending_credits, r.entry_count) AS recomputed
          INTO bad
          FROM ledger.balance_anchors a
          JOIN r ON r.account_id = a.account_id AND r.currency = a.currency AND r.anchor_at = a.anchor_at
          LEFT JOIN ledger.accounts c ON c.account_id = a.account_id
         WHERE a.run_id = p_run_id
           AND (a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits, a.entry_count)
               IS DISTINCT FROM (r.posted_debits, r.posted_credits, r.pending_debits, r.pending_credits, r.entry_count)
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION USING
                ERRCODE = 'LDG10',
                MESSAGE = format('anchor run %s: the anchor of %s %s at %s says %s (debits/credits); the entries say %s',
                                 p_run_id, coalesce(bad.code, bad.account_id::text), bad.currency, bad.anchor_at,
                                 bad.proposed, bad.recomputed),
                HINT = 'Recompute the anchors from the mirror at this snapshot (the warehouse snapshot run does), and propose them again.';
        END IF;
        -- the proposal is right, so a stored anchor it was checked against is not
        RAISE NOTICE 'anchor run %: % anchors equal the entries but not the stored anchor before them plus what changed since: a stored anchor is wrong (subledger verify names it)',
                     p_run_id, disagreeing;
    END IF;

    SELECT g.account_id, g.currency, g.anchor_at, g.transaction_id, g.moved_at, c.code INTO bad
      FROM ledger.anchor_gaps(replaced_ids || p_account_ids, replaced_currencies || p_currencies,
                              p_replace_from - interval '2 days') g
      LEFT JOIN ledger.accounts c ON c.account_id = g.account_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'LDG10',
            MESSAGE = format('anchor run %s: transaction %s moved at %s, after the anchor of %s %s at %s counted it pending, '
                             'and no anchor follows the move that day', p_run_id, bad.transaction_id, bad.moved_at,
                             coalesce(bad.code, bad.account_id::text), bad.currency, bad.anchor_at),
            HINT = 'Leave an anchor at the end of every day on which a pending transaction of the account moved.';
    END IF;

    DELETE FROM ledger.balance_anchor_runs r
     WHERE r.run_id <> p_run_id
       AND NOT EXISTS (SELECT 1 FROM ledger.balance_anchors a WHERE a.run_id = r.run_id);
    RETURN written;
END
$$;

REVOKE ALL ON FUNCTION ledger.replace_anchors(uuid, pg_snapshot, date, date, timestamptz, text, timestamptz, timestamptz,
                                              uuid[], text[], timestamptz[], bigint[], bigint[], bigint[], bigint[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger.replace_anchors(uuid, pg_snapshot, date, date, timestamptz, text, timestamptz, timestamptz,
                                                 uuid[], text[], timestamptz[], bigint[], bigint[], bigint[], bigint[], bigint[])
    TO subledger_writer;
