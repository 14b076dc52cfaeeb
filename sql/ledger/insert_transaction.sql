INSERT INTO ledger.transactions
       (transaction_id, idempotency_key, status, effective_at, posted_at, reverses_transaction_id, reference,
        source_event_id, source_event_type, batch_id, content_hash, description, metadata, source)
VALUES (%(transaction_id)s, %(idempotency_key)s, %(status)s, %(effective_at)s,
        CASE WHEN %(status)s = 'posted' THEN %(effective_at)s END, %(reverses)s, %(reference)s,
        %(source_event_id)s, %(source_event_type)s, %(batch_id)s, %(content_hash)s, %(description)s,
        %(metadata)s, %(source)s)
