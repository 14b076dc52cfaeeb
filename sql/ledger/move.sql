-- A lifecycle move in one round trip: sql/schema/functions/ledger.move_transaction.sql (Ledger.move).
SELECT transaction_id::text, idempotency_key, status, created
  FROM ledger.move_transaction(%(target)s::text, %(target_id)s::uuid, %(to_status)s::text, %(at)s::timestamptz,
                               %(transition_key)s::text, %(transition_hash)s::text, %(actor)s::text, %(reason)s::text)
