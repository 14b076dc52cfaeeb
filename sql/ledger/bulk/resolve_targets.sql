-- Targets named by idempotency key, and the *current* transaction of each named reference:
-- not a reversal, not reversed, the latest created.
SELECT 'key' AS kind, n.name, t.transaction_id::text, t.status,
       EXISTS (SELECT 1 FROM ledger.transactions r WHERE r.reverses_transaction_id = t.transaction_id) AS reversed
  FROM bulk_target_names n
  JOIN ledger.transactions t ON t.idempotency_key = n.name
 WHERE n.kind = 'key'
UNION ALL
SELECT * FROM (
    SELECT DISTINCT ON (t.reference) 'reference', t.reference, t.transaction_id::text, t.status, false
      FROM bulk_target_names n
      JOIN ledger.transactions t ON t.reference = n.name
     WHERE n.kind = 'reference'
       AND t.reverses_transaction_id IS NULL
       AND NOT EXISTS (SELECT 1 FROM ledger.transactions r WHERE r.reverses_transaction_id = t.transaction_id)
     ORDER BY t.reference, t.created_at DESC, t.transaction_id DESC
) current_by_reference
