-- One transaction by id or idempotency key, with its legs (GET /v1/transactions/{key}).
SELECT t.transaction_id::text, t.idempotency_key, t.status, t.effective_at, t.created_at, t.posted_at, t.archived_at,
       t.reverses_transaction_id::text,
       (SELECT r.transaction_id::text FROM ledger.transactions r WHERE r.reverses_transaction_id = t.transaction_id),
       t.reference, t.source_event_id, t.source_event_type, t.batch_id::text, t.description, t.metadata,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('entry_no', e.entry_no, 'account', a.code, 'direction', e.direction,
                                                     'amount', e.amount, 'currency', e.currency) ORDER BY e.entry_no), '[]')
          FROM ledger.entries e JOIN ledger.accounts a USING (account_id)
         WHERE e.transaction_id = t.transaction_id AND e.effective_at = t.effective_at)
  FROM ledger.transactions t
 WHERE t.idempotency_key = %(key)s OR t.transaction_id = %(id)s::uuid
 ORDER BY (t.idempotency_key = %(key)s) DESC
 LIMIT 1
