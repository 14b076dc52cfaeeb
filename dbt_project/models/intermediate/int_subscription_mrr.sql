-- MRR per subscription, currency and month: the sum of the monthly amounts of the invoices
-- contributing in that month (int_invoices), up to the latest report period. Only months with
-- MRR > 0 have a row.
--
-- A month to date (the latest period, before its month end) has not seen every renewal yet: a
-- subscription that had MRR in the previous month, has no invoice in this one yet and whose
-- latest service period still runs on the report date (period_end >= as_of_date, and the invoice
-- not reversed) keeps its previous MRR, flagged `renewal_pending`. So a month to date never shows
-- a subscription as churned before its renewal was due; if the month ends without the renewal,
-- it is churned in that month.
with last_period as (
    select
        max(period_start) as last_start,
        max(as_of_date) as last_day,
        max(as_of_date) < last_day(max(period_start)) as is_month_to_date
    from {{ ref('int_report_dates') }}
),

contributions as (
    select
        i.subscription_id,
        i.currency,
        i.monthly_amount,
        i.period_end,
        i.reversed_month,
        cast(i.first_month + to_months(cast(k.k as integer)) as date) as period_start
    from {{ ref('int_invoices') }} as i,
        unnest(range(i.service_months)) as k(k)
),

invoiced as (
    select
        c.subscription_id,
        c.currency,
        c.period_start,
        sum(c.monthly_amount) as mrr,
        max(c.period_end) filter (where c.reversed_month is null or c.reversed_month > l.last_start) as covered_until
    from contributions as c, last_period as l
    where (c.reversed_month is null or c.period_start < c.reversed_month)
        and c.period_start <= l.last_start
    group by all
    having sum(c.monthly_amount) > 0
),

renewals_pending as (
    select p.subscription_id, p.currency, l.last_start as period_start, p.mrr
    from invoiced as p
    inner join last_period as l
        on l.is_month_to_date
        and p.period_start = cast(l.last_start - interval 1 month as date)
        and p.covered_until >= l.last_day
    anti join invoiced as n
        on n.subscription_id = p.subscription_id and n.currency = p.currency and n.period_start = l.last_start
)

select subscription_id, currency, period_start, {{ period_of('period_start') }} as period, mrr, false as renewal_pending
from invoiced

union all

select subscription_id, currency, period_start, {{ period_of('period_start') }} as period, mrr, true as renewal_pending
from renewals_pending
