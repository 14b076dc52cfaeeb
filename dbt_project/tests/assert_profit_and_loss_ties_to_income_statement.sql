{{ config(meta={'dagster': {'ref': {'name': 'profit_and_loss_statement'}}}) }}
-- The statement's figures tie out: each line and section total equals the income statement's
-- amount of that category for the period, and Net income its net_income (current period); the
-- prior-period column equals the previous period's; and the year-to-date Net income equals the
-- change of the balance sheet's current earnings since the start of the year.
with pl as (
    select * from {{ ref('profit_and_loss_statement') }} where line_type in ('line', 'subtotal', 'total') and label <> 'Other'
),

monthly as (
    select period, currency, category, amount from {{ ref('income_statement') }}
),

periods as (
    select period, lag(period) over (order by period) as prior_period_name from {{ ref('int_report_dates') }}
),

by_period as (
    select
        p.as_of_date, p.currency, p.category, p.label,
        p.current_period, coalesce(now.amount, 0) as expected_current,
        p.prior_period, coalesce(prior.amount, 0) as expected_prior
    from pl as p
    inner join periods as d on d.period = p.period
    left join monthly as now on now.period = p.period and now.currency = p.currency and now.category = p.category
    left join monthly as prior on prior.period = d.prior_period_name and prior.currency = p.currency and prior.category = p.category
),

earnings as (
    select as_of_date, currency, balance - start_of_year_balance as earned_this_year
    from {{ ref('balance_sheet_statement') }}
    where category = 'current_earnings'
),

year_to_date as (
    select p.as_of_date, p.currency, p.year_to_date, coalesce(e.earned_this_year, 0) as earned_this_year
    from pl as p
    left join earnings as e using (as_of_date, currency)
    where p.category = 'net_income'
)

select as_of_date, currency, category, label, current_period, expected_current, prior_period, expected_prior
from by_period
where current_period <> expected_current or prior_period <> expected_prior
union all
select as_of_date, currency, 'net_income (year to date)', null, year_to_date, earned_this_year, null, null
from year_to_date
where year_to_date <> earned_this_year
