-- This run's anchors, COPY'd in before they replace the stored ones (dropped at commit).
CREATE TEMP TABLE anchor_stage (
    account_id uuid NOT NULL, currency text NOT NULL, anchor_at timestamptz NOT NULL,
    posted_debits bigint NOT NULL, posted_credits bigint NOT NULL,
    pending_debits bigint NOT NULL, pending_credits bigint NOT NULL, entry_count bigint NOT NULL
) ON COMMIT DROP
