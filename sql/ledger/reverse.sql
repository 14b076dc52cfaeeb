-- A reversal in one round trip: sql/schema/functions/ledger.reverse_transaction.sql (Ledger.reverse).
SELECT transaction_id::text, status, created
  FROM ledger.reverse_transaction(%(transaction_id)s::uuid, %(idempotency_key)s::text, %(target)s::text,
                                  %(target_id)s::uuid, %(effective_at)s::timestamptz, %(content_hash)s::text,
                                  %(reason)s::text, %(metadata)s::jsonb, %(batch_id)s::uuid, %(actor)s::text)
