-- Per-batch staging tables (dropped at commit). Names start with bulk_ to keep them apart.
CREATE TEMP TABLE bulk_keys (seq bigint, key text, content_hash text, reference text) ON COMMIT DROP;
CREATE TEMP TABLE bulk_target_names (kind text, name text) ON COMMIT DROP;
CREATE TEMP TABLE bulk_moves (
    transaction_id uuid, to_status text, at timestamptz, transition_key text, transition_hash text
) ON COMMIT DROP;
CREATE TEMP TABLE bulk_reversals (
    transaction_id uuid, idempotency_key text, effective_at timestamptz, target_id uuid, description text,
    metadata jsonb, source_event_id text, source_event_type text, content_hash text, batch_id uuid
) ON COMMIT DROP;
