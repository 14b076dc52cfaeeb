SELECT outbox_id, event_id, event_type, effective_at, recorded_at, subscription_id, customer_id, amount, currency,
       payload, metadata
  FROM ingest.outbox
 WHERE inserted_xid >= %(low)s::xid8 AND inserted_xid < %(high)s::xid8
 ORDER BY outbox_id
