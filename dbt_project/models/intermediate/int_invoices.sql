-- Posted invoices (invoice.issued) with the recurring amount they contribute to MRR
-- (docs/reports.md, "MRR"): the invoice amount divided by the number of months its service
-- period spans (round(days / 30.436875), at least 1; 1 when the payload has no valid period),
-- rounded half up to a whole minor unit. It contributes from the month of the invoice's
-- effective day for that many months, ending early at the month a posted reversal of the invoice
-- takes effect. Only effective days decide, so MRR of a closed month never changes.
with invoices as (
    select *
    from {{ ref('stg_transactions') }}
    where event_type = 'invoice.issued' and status = 'posted' and subscription_id is not null
),

amounts as (
    select transaction_id, currency, sum(amount) as amount
    from {{ ref('int_posted_entries') }}
    where direction = 'debit' and event_type = 'invoice.issued'
    group by all
),

reversals as (
    select reverses_transaction_id as transaction_id, min(effective_date) as reversed_date
    from {{ ref('stg_transactions') }}
    where reverses_transaction_id is not null and status = 'posted'
    group by all
),

sized as (
    select
        i.transaction_id,
        i.invoice_id,
        i.subscription_id,
        i.customer_id,
        i.plan_id,
        a.currency,
        a.amount,
        i.effective_date,
        i.period_start,
        i.period_end,
        case
            when i.period_start is null or i.period_end is null or i.period_end <= i.period_start then 1
            else greatest(1, cast(round(cast(date_diff('day', i.period_start, i.period_end) as decimal(18, 6)) / 30.436875) as integer))
        end as service_months,
        r.reversed_date
    from invoices as i
    inner join amounts as a using (transaction_id)
    left join reversals as r using (transaction_id)
)

select
    *,
    cast((2 * cast(amount as hugeint) + service_months) // (2 * service_months) as bigint) as monthly_amount,
    cast(date_trunc('month', effective_date) as date) as first_month,
    cast(date_trunc('month', reversed_date) as date) as reversed_month
from sized
