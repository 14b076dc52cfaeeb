-- The report dates the statements are drawn up at, per currency (every currency that has a
-- category balance by then), with the dates their comparative columns show: the previous report
-- date (prior period) and the last report date before the fiscal year starts (NULL when the
-- ledger starts later: the year opens at zero).
with currencies as (
    select currency, min(as_of_date) as first_date
    from {{ ref('int_category_balances') }}
    group by all
),

dates as (
    select
        *,
        lag(as_of_date) over (order by as_of_date) as prior_as_of_date,
        {{ fiscal_year_start('period_start') }} as year_start
    from {{ ref('int_report_dates') }}
),

with_year_opening as (
    select d.*, y.as_of_date as year_opening_date
    from dates as d
    asof left join (select as_of_date from {{ ref('int_report_dates') }}) as y
        on d.year_start > y.as_of_date
)

select
    d.period,
    d.period_start,
    d.as_of_date,
    d.is_month_end,
    c.currency,
    d.prior_as_of_date,
    d.year_start,
    d.year_opening_date
from with_year_opening as d
inner join currencies as c on d.as_of_date >= c.first_date
