-- Lifecycle move pending -> posted/archived; the guards and the cache follow by trigger.
UPDATE ledger.transactions
   SET status = %(to_status)s,
       posted_at = CASE WHEN %(to_status)s = 'posted' THEN %(at)s END,
       archived_at = CASE WHEN %(to_status)s = 'archived' THEN %(at)s END,
       transition_key = %(transition_key)s,
       transition_hash = %(transition_hash)s
 WHERE transaction_id = %(transaction_id)s::uuid AND status = 'pending'
RETURNING transaction_id::text
