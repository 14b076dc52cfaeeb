-- Propose one run's anchors to the ledger (sql/schema/functions/ledger.replace_anchors.sql checks
-- them against the entries and refuses the whole run with LDG10 if one differs).
SELECT ledger.replace_anchors(
    p_run_id => %(run_id)s::uuid,
    p_snapshot => %(snapshot)s::pg_snapshot,
    p_first_day => %(first_day)s::date,
    p_last_day => %(last_day)s::date,
    p_covered_until => %(covered_until)s::timestamptz,
    p_timezone => %(timezone)s::text,
    p_replace_from => %(replace_from)s::timestamptz,
    p_replace_until => %(replace_until)s::timestamptz,
    p_account_ids => %(account_id)s::uuid[],
    p_currencies => %(currency)s::text[],
    p_anchor_ats => %(anchor_at)s::timestamptz[],
    p_posted_debits => %(posted_debits)s::bigint[],
    p_posted_credits => %(posted_credits)s::bigint[],
    p_pending_debits => %(pending_debits)s::bigint[],
    p_pending_credits => %(pending_credits)s::bigint[],
    p_entry_counts => %(entry_count)s::bigint[]
)
