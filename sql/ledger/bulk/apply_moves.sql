UPDATE ledger.transactions t
   SET status = m.to_status,
       posted_at = CASE WHEN m.to_status = 'posted' THEN m.at END,
       archived_at = CASE WHEN m.to_status = 'archived' THEN m.at END,
       transition_key = m.transition_key,
       transition_hash = m.transition_hash
  FROM bulk_moves m
 WHERE t.transaction_id = m.transaction_id AND t.status = 'pending'
RETURNING t.transaction_id::text
