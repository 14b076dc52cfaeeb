-- The payload of the transaction each reference currently names (not a reversal, not reversed,
-- the latest created): what a correction of an earlier batch's posting is computed from.
SELECT DISTINCT ON (t.reference) t.reference, coalesce((t.source -> 'payload')::text, '{}') AS payload
  FROM ledger.transactions t
 WHERE t.reference = ANY (%(references)s::text[])
   AND t.reverses_transaction_id IS NULL
   AND NOT EXISTS (SELECT 1 FROM ledger.transactions r WHERE r.reverses_transaction_id = t.transaction_id)
 ORDER BY t.reference, t.created_at DESC, t.transaction_id DESC
