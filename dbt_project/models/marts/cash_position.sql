-- Cash per month and currency: settled cash (posted balance of `assets:cash` and its
-- sub-accounts other than in-transit), cash in transit (posted balance of
-- `assets:cash:in_transit`: settled card payments the provider has not paid out yet), payments
-- pending (initiated, neither settled nor failed: pending minus posted balance of the in-transit
-- account), and the month's payment flows: initiated (by effective day), settled (by posting
-- day), failed (by the day they were archived), paid out of transit, refunded.
{% set cash = var('cash_account') %}
{% set transit = var('cash_in_transit_account') %}
with cash_accounts as (
    select
        *,
        (account = '{{ transit }}' or {{ starts_with_prefix('account', transit) }}) as is_in_transit
    from {{ ref('int_account_balances') }}
    where account = '{{ cash }}' or {{ starts_with_prefix('account', cash) }}
),

balances as (
    select
        period,
        currency,
        sum(posted) filter (where not is_in_transit) as cash_settled,
        sum(posted) filter (where is_in_transit) as cash_in_transit,
        sum(pending - posted) filter (where is_in_transit) as payments_pending,
        sum(period_posted_credits) filter (where is_in_transit) as paid_out_of_transit
    from cash_accounts
    group by all
),

payments as (
    select
        t.transaction_id,
        t.status,
        t.effective_date,
        t.posted_date,
        t.archived_date,
        e.currency,
        sum(e.amount) as amount
    from {{ ref('stg_transactions') }} as t
    inner join {{ ref('stg_entries') }} as e using (transaction_id)
    where t.is_payment and e.direction = 'debit'
    group by all
),

payment_events as (
    select 'initiated' as kind, currency, amount, effective_date as day from payments
    union all
    select 'settled', currency, amount, posted_date from payments where status = 'posted'
    union all
    select 'failed', currency, amount, archived_date from payments where status = 'archived'
),

payment_flows as (
    select
        {{ report_period('p.day') }} as period,
        p.currency,
        count(*) filter (where p.kind = 'initiated') as payments_initiated,
        sum(p.amount) filter (where p.kind = 'initiated') as payments_initiated_amount,
        count(*) filter (where p.kind = 'settled') as payments_settled,
        sum(p.amount) filter (where p.kind = 'settled') as payments_settled_amount,
        count(*) filter (where p.kind = 'failed') as payments_failed,
        sum(p.amount) filter (where p.kind = 'failed') as payments_failed_amount
    from payment_events as p
    inner join {{ ref('int_report_bounds') }} as bounds on p.day <= bounds.last_day
    group by all
),

refunds as (
    select period, currency, sum(amount) as refunds_amount
    from {{ ref('int_posted_entries') }}
    where event_type = 'refund.issued' and direction = 'credit' and period is not null
    group by all
)

select
    d.period,
    d.period_start,
    d.as_of_date,
    d.is_month_end,
    currency,
    cast(coalesce(b.cash_settled, 0) as bigint) as cash_settled,
    cast(coalesce(b.cash_in_transit, 0) as bigint) as cash_in_transit,
    cast(coalesce(b.cash_settled, 0) + coalesce(b.cash_in_transit, 0) as bigint) as total_cash,
    cast(coalesce(b.payments_pending, 0) as bigint) as payments_pending,
    cast(coalesce(f.payments_initiated, 0) as bigint) as payments_initiated,
    cast(coalesce(f.payments_initiated_amount, 0) as bigint) as payments_initiated_amount,
    cast(coalesce(f.payments_settled, 0) as bigint) as payments_settled,
    cast(coalesce(f.payments_settled_amount, 0) as bigint) as payments_settled_amount,
    cast(coalesce(f.payments_failed, 0) as bigint) as payments_failed,
    cast(coalesce(f.payments_failed_amount, 0) as bigint) as payments_failed_amount,
    cast(coalesce(b.paid_out_of_transit, 0) as bigint) as paid_out_of_transit,
    cast(coalesce(r.refunds_amount, 0) as bigint) as refunds_amount
from balances as b
full outer join payment_flows as f using (period, currency)
full outer join refunds as r using (period, currency)
inner join {{ ref('int_report_dates') }} as d using (period)
