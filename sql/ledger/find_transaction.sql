-- A transaction by idempotency key or id, with what idempotency and lifecycle checks need.
SELECT transaction_id::text, idempotency_key, status, content_hash, transition_key, transition_hash,
       (SELECT r.transaction_id::text FROM ledger.transactions r WHERE r.reverses_transaction_id = t.transaction_id) AS reversed_by
  FROM ledger.transactions t
 WHERE t.idempotency_key = %(key)s OR t.transaction_id = %(id)s::uuid
 ORDER BY (t.idempotency_key = %(key)s) DESC
 LIMIT 1
