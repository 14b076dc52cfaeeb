-- Transactions with their source event context unpacked from `source` JSON
-- ({"subscription_id", "customer_id", "amount", "currency", "payload": {...}, "recorded_at"}) and
-- their lifecycle times turned into days of the reporting time zone. Each JSON document is
-- parsed once (json_transform into a struct), not once per field.
with parsed as (
    select
        *,
        json_transform(source, '{
            "subscription_id": "VARCHAR", "customer_id": "VARCHAR", "amount": "VARCHAR", "currency": "VARCHAR",
            "payload": {"invoice_id": "VARCHAR", "plan_id": "VARCHAR", "payment_id": "VARCHAR", "credit_id": "VARCHAR",
                        "period_start": "VARCHAR", "period_end": "VARCHAR", "reason": "VARCHAR"}
        }') as s,
        json_transform(metadata, '{"failure_reason": "VARCHAR", "reason": "VARCHAR", "region": "VARCHAR"}') as m
    from {{ source('analytics', 'transactions') }}
)

select
    transaction_id,
    idempotency_key,
    status,
    effective_at,
    {{ local_date('effective_at') }} as effective_date,
    created_at,
    posted_at,
    {{ local_date('posted_at') }} as posted_date,
    archived_at,
    {{ local_date('archived_at') }} as archived_date,
    status_changed_at,
    reverses_transaction_id,
    reference,
    source_event_id,
    event_type,
    batch_id,
    description,
    s.subscription_id,
    s.customer_id,
    try_cast(s.amount as bigint) as source_amount,
    s.currency as source_currency,
    s.payload.invoice_id as invoice_id,
    s.payload.plan_id as plan_id,
    coalesce(s.payload.payment_id, case when starts_with(reference, 'payment:') then substr(reference, 9) end) as payment_id,
    s.payload.credit_id as credit_id,
    -- a bare date as written; a timestamp as its day in the reporting time zone
    case when length(s.payload.period_start) = 10 then try_cast(s.payload.period_start as date)
         else {{ local_date('try_cast(s.payload.period_start as timestamptz)') }} end as period_start,
    case when length(s.payload.period_end) = 10 then try_cast(s.payload.period_end as date)
         else {{ local_date('try_cast(s.payload.period_end as timestamptz)') }} end as period_end,
    coalesce(m.failure_reason, s.payload.reason, m.reason) as reason,
    m.region,
    metadata,
    source
from parsed
