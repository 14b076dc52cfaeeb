{{ config(materialized='view') }}
-- Transactions as the warehouse mirrored them: what the mirror computed once per transaction
-- (days in the reporting time zone, when it started to count as posted, the business fields of
-- its source event, whether it is a payment; macro transaction_fields, sql/warehouse/macros.sql)
-- is read here, not derived again.
select
    transaction_id,
    idempotency_key,
    status,
    effective_at,
    effective_date,
    created_at,
    posted_at,
    posted_date,
    archived_at,
    archived_date,
    posting_at,
    posting_date,
    status_changed_at,
    reverses_transaction_id,
    reference,
    source_event_id,
    event_type,
    batch_id,
    description,
    subscription_id,
    customer_id,
    source_amount,
    source_currency,
    invoice_id,
    plan_id,
    payment_id,
    is_payment,
    credit_id,
    period_start,
    period_end,
    reason,
    region,
    metadata,
    source
from {{ source('analytics', 'transactions') }}
