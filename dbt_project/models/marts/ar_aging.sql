-- Accounts receivable aging per customer and currency at every month end and the latest day
-- (docs/reports.md, "AR aging"): the open part of each receivable debit (FIFO,
-- int_receivable_open_items) bucketed by days past due = days since the debit's effective day
-- minus var('ar_payment_terms_days') (0: days past the invoice). `unapplied_credits` is what
-- customers paid or were credited beyond what they owe (a negative receivable per subscription);
-- total_open - unapplied_credits = receivable_balance = the posted balance of the customer's
-- receivable accounts (tested against the trial balance).
with open_items as (
    select
        o.period,
        o.as_of_date,
        coalesce(c.customer_id, '(unknown)') as customer_id,
        o.currency,
        o.open_amount,
        o.effective_date,
        o.age_days - {{ var('ar_payment_terms_days') }} as days_past_due
    from {{ ref('int_receivable_open_items') }} as o
    left join {{ ref('int_subscription_customers') }} as c using (subscription_id)
),

buckets as (
    select
        period,
        as_of_date,
        customer_id,
        currency,
        sum(open_amount) filter (where days_past_due <= 0) as current_amount,
        sum(open_amount) filter (where days_past_due between 1 and 30) as days_1_30,
        sum(open_amount) filter (where days_past_due between 31 and 60) as days_31_60,
        sum(open_amount) filter (where days_past_due between 61 and 90) as days_61_90,
        sum(open_amount) filter (where days_past_due > 90) as days_over_90,
        sum(open_amount) as total_open,
        count(*) as open_items,
        min(effective_date) as oldest_open_date
    from open_items
    group by all
),

balances as (
    select
        b.period,
        b.as_of_date,
        coalesce(c.customer_id, '(unknown)') as customer_id,
        b.currency,
        sum(b.posted) as receivable_balance,
        sum(greatest(-b.posted, 0)) as unapplied_credits,
        count(*) filter (where b.posted <> 0) as subscriptions
    from {{ ref('int_account_balances') }} as b
    left join {{ ref('int_subscription_customers') }} as c
        on c.subscription_id = {{ after_prefix('b.account', var('receivables_prefix')) }}
    where {{ starts_with_prefix('b.account', var('receivables_prefix')) }}
    group by all
)

select
    period,
    as_of_date,
    customer_id,
    currency,
    cast(coalesce(k.current_amount, 0) as bigint) as current_amount,
    cast(coalesce(k.days_1_30, 0) as bigint) as days_1_30,
    cast(coalesce(k.days_31_60, 0) as bigint) as days_31_60,
    cast(coalesce(k.days_61_90, 0) as bigint) as days_61_90,
    cast(coalesce(k.days_over_90, 0) as bigint) as days_over_90,
    cast(coalesce(k.total_open, 0) as bigint) as total_open,
    cast(coalesce(b.unapplied_credits, 0) as bigint) as unapplied_credits,
    cast(coalesce(b.receivable_balance, 0) as bigint) as receivable_balance,
    cast(coalesce(k.open_items, 0) as bigint) as open_items,
    k.oldest_open_date,
    cast(coalesce(b.subscriptions, 0) as bigint) as subscriptions
from buckets as k
full outer join balances as b using (period, as_of_date, customer_id, currency)
where coalesce(k.total_open, 0) <> 0 or coalesce(b.receivable_balance, 0) <> 0 or coalesce(b.unapplied_credits, 0) <> 0
