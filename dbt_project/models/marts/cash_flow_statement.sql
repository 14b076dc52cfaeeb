-- The cash-flow statement (direct method), per report date and currency, in statement order
-- (docs/reports.md, "cash_flow_statement"): cash at the beginning of the period, the flows of
-- each activity (operating; investing: other assets; financing: equity) by counterpart category
-- with their subtotals (int_cash_flows), the net change in cash and cash at the end of the
-- period. Three columns: the period, the previous period and the fiscal year to date (whose
-- beginning is cash at the start of the year). Cash at the end equals the cash accounts' posted
-- balance in the trial balance, and beginning + net change = end in every column (tested).
{% set cash = var('cash_account') %}
{% set receivables = var('receivables_prefix') %}
with dates as (
    select * from {{ ref('int_statement_dates') }}
),

cash_balances as (
    select as_of_date, currency, sum(posted) as closing, sum(opening_posted) as opening
    from {{ ref('int_account_balances') }}
    where account = '{{ cash }}' or {{ starts_with_prefix('account', cash) }}
    group by all
),

balances as (
    select
        d.*,
        coalesce(b.opening, 0) as opening,
        coalesce(b.closing, 0) as closing,
        coalesce(y.closing, 0) as year_opening
    from dates as d
    inner join cash_balances as b using (as_of_date, currency)
    left join cash_balances as y on y.as_of_date = d.year_opening_date and y.currency = d.currency
),

flows as (
    select
        *,
        case
            when top_segment = 'equity' then 'financing'
            when top_segment = 'assets' and category <> '{{ receivables }}'
                and not {{ starts_with_prefix('category', receivables) }} then 'investing'
            else 'operating'
        end as activity
    from {{ ref('int_cash_flows') }}
),

-- every flow line on every report date from its first one (a line of an earlier month of the
-- year still shows in the year-to-date column)
line_keys as (
    select f.currency, f.activity, f.category, min(d.as_of_date) as first_date
    from flows as f
    inner join dates as d on d.period = f.period and d.currency = f.currency
    group by all
),

line_values as (
    select
        b.as_of_date,
        b.currency,
        b.year_start,
        k.activity,
        k.category,
        coalesce(f.amount, 0) as current_period
    from line_keys as k
    inner join balances as b on b.currency = k.currency and b.as_of_date >= k.first_date
    left join flows as f
        on f.period = b.period and f.currency = k.currency and f.category = k.category and f.activity = k.activity
),

line_amounts as (
    select
        *,
        coalesce(lag(current_period) over (partition by currency, activity, category order by as_of_date), 0)
            as prior_period,
        sum(current_period) over (
            partition by currency, activity, category, year_start order by as_of_date
            rows between unbounded preceding and current row
        ) as year_to_date
    from line_values
),

activities as (
    select
        as_of_date, currency, activity,
        sum(current_period) as current_period, sum(prior_period) as prior_period, sum(year_to_date) as year_to_date
    from line_amounts
    group by all
),

ordered as (
    select *, case activity when 'operating' then 10 when 'investing' then 20 else 30 end as activity_order
    from activities
),

net_change as (
    select
        b.as_of_date, b.currency,
        coalesce(sum(a.current_period), 0) as current_period,
        coalesce(sum(a.prior_period), 0) as prior_period,
        coalesce(sum(a.year_to_date), 0) as year_to_date
    from balances as b
    left join activities as a using (as_of_date, currency)
    group by all
),

lines as (
    select as_of_date, currency, null as activity, 0 as activity_order, 0 as part, null as category,
        'opening' as line_type, 0 as indent, 'Cash at beginning of period' as label,
        opening as current_period,
        coalesce(lag(opening) over (partition by currency order by as_of_date), 0) as prior_period,
        year_opening as year_to_date
    from balances

    union all by name
    select as_of_date, currency, activity, activity_order, 1 as part, null as category,
        'header' as line_type, 0 as indent,
        'Cash flows from ' || activity || ' activities' as label,
        null::bigint as current_period, null::bigint as prior_period, null::bigint as year_to_date
    from ordered

    union all by name
    select l.as_of_date, l.currency, l.activity, o.activity_order, 2 as part, l.category,
        'line' as line_type, 1 as indent,
        case
            when l.category = '{{ receivables }}' or {{ starts_with_prefix('l.category', receivables) }}
                then 'Receipts from customers'
            else {{ category_caption('l.category') }}
        end as label,
        l.current_period, l.prior_period, l.year_to_date
    from line_amounts as l
    inner join ordered as o using (as_of_date, currency, activity)
    where l.current_period <> 0 or l.prior_period <> 0 or l.year_to_date <> 0

    union all by name
    select as_of_date, currency, activity, activity_order, 3 as part, null as category,
        'subtotal' as line_type, 0 as indent,
        'Net cash from ' || activity || ' activities' as label,
        current_period, prior_period, year_to_date
    from ordered

    union all by name
    select as_of_date, currency, null as activity, 90 as activity_order, 0 as part, null as category,
        'net_change' as line_type, 0 as indent, 'Net change in cash' as label,
        current_period, prior_period, year_to_date
    from net_change

    union all by name
    select as_of_date, currency, null as activity, 99 as activity_order, 0 as part, null as category,
        'closing' as line_type, 0 as indent, 'Cash at end of period' as label,
        closing as current_period, opening as prior_period, closing as year_to_date
    from balances
)

select
    d.period,
    d.period_start,
    d.as_of_date,
    d.is_month_end,
    d.year_start,
    l.currency,
    cast(row_number() over (
        partition by l.as_of_date, l.currency order by l.activity_order, l.part, l.category
    ) as integer) as line_no,
    l.activity,
    l.line_type,
    l.category,
    l.indent,
    l.label,
    cast(l.current_period as bigint) as current_period,
    cast(l.prior_period as bigint) as prior_period,
    cast(l.year_to_date as bigint) as year_to_date
from lines as l
inner join dates as d using (as_of_date, currency)
