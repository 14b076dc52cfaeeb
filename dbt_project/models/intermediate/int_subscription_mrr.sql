-- MRR per subscription, currency and month: the sum of the monthly amounts of the invoices
-- contributing in that month (int_invoices), up to the latest report period. Only months with
-- MRR > 0 have a row.
with last_period as (
    select max(period_start) as last_start from {{ ref('int_report_dates') }}
),

contributions as (
    select
        i.subscription_id,
        i.currency,
        i.monthly_amount,
        i.reversed_month,
        cast(i.first_month + to_months(cast(k.k as integer)) as date) as period_start
    from {{ ref('int_invoices') }} as i,
        unnest(range(i.service_months)) as k(k)
)

select
    c.subscription_id,
    c.currency,
    c.period_start,
    {{ period_of('c.period_start') }} as period,
    sum(c.monthly_amount) as mrr
from contributions as c, last_period as l
where (c.reversed_month is null or c.period_start < c.reversed_month)
    and c.period_start <= l.last_start
group by all
having sum(c.monthly_amount) > 0
