-- Failed payments: every payment whose pending transaction was archived (payment.failed), one
-- row per payment, in the month it failed (up to the latest report date). `reason` is the
-- failure reason when the warehouse carries it (transaction metadata `failure_reason`), else
-- NULL.
with failed as (
    select *
    from {{ ref('stg_transactions') }}
    where is_payment and status = 'archived'
),

amounts as (
    select transaction_id, currency, sum(amount) as amount
    from {{ ref('stg_entries') }}
    where direction = 'debit' and transaction_id in (select transaction_id from failed)
    group by all
)

select
    {{ report_period('f.archived_date') }} as period,
    f.archived_date as failed_date,
    f.transaction_id,
    f.payment_id,
    f.invoice_id,
    f.subscription_id,
    coalesce(f.customer_id, c.customer_id) as customer_id,
    a.currency,
    cast(a.amount as bigint) as amount,
    f.effective_at as initiated_at,
    f.archived_at as failed_at,
    date_diff('day', f.effective_date, f.archived_date) as days_pending,
    f.reason,
    f.region,
    f.reference
from failed as f
inner join amounts as a using (transaction_id)
left join {{ ref('int_subscription_customers') }} as c using (subscription_id)
inner join {{ ref('int_report_bounds') }} as bounds on f.archived_date <= bounds.last_day
