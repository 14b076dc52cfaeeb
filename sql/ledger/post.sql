-- One posting, one round trip: sql/schema/functions/ledger.post_transaction.sql does the checks,
-- locks and writes. Prepared once per connection (Ledger.post); the casts fix the parameter types.
SELECT transaction_id::text, status, created, account_codes, currencies, normal_balances, posted_debits,
       posted_credits, pending_debits, pending_credits, versions, lock_versions
  FROM ledger.post_transaction(
    %(transaction_id)s::uuid, %(idempotency_key)s::text, %(status)s::text, %(effective_at)s::timestamptz,
    %(content_hash)s::text, %(accounts)s::text[], %(directions)s::text[], %(amounts)s::bigint[],
    %(currencies)s::text[], %(lock_versions)s::bigint[], %(condition_legs)s::integer[],
    %(condition_balances)s::text[], %(condition_ops)s::text[], %(condition_amounts)s::bigint[],
    %(reference)s::text, %(source_event_id)s::text, %(source_event_type)s::text, %(batch_id)s::uuid,
    %(description)s::text, %(metadata)s::jsonb, %(source)s::jsonb)
