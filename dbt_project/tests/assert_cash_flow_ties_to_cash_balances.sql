{{ config(meta={'dagster': {'ref': {'name': 'cash_flow_statement'}}}) }}
-- In every column, cash at the beginning + the net change = cash at the end; the net change is the
-- sum of the activities' subtotals and each subtotal the sum of its lines; cash at the end equals
-- the cash accounts' posted balance in the trial balance at the report date, and cash at the
-- beginning that at the previous report date.
{% set cash = var('cash_account') %}
with statement as (
    select * from {{ ref('cash_flow_statement') }}
),

rows_by_date as (
    select
        as_of_date,
        currency,
        any_value(period) as period,
        sum(current_period) filter (where line_type = 'opening') as opening,
        sum(current_period) filter (where line_type = 'net_change') as net_change,
        sum(current_period) filter (where line_type = 'closing') as closing,
        sum(prior_period) filter (where line_type = 'opening') as prior_opening,
        sum(prior_period) filter (where line_type = 'net_change') as prior_net_change,
        sum(prior_period) filter (where line_type = 'closing') as prior_closing,
        sum(year_to_date) filter (where line_type = 'opening') as year_opening,
        sum(year_to_date) filter (where line_type = 'net_change') as year_net_change,
        sum(year_to_date) filter (where line_type = 'closing') as year_closing,
        coalesce(sum(current_period) filter (where line_type = 'subtotal'), 0) as subtotals,
        coalesce(sum(current_period) filter (where line_type = 'line'), 0) as lines
    from statement
    group by all
),

tb as (
    select as_of_date, currency, sum(balance) as cash
    from {{ ref('trial_balance') }}
    where account = '{{ cash }}' or {{ starts_with_prefix('account', cash) }}
    group by all
),

dates as (
    select as_of_date, lag(as_of_date) over (order by as_of_date) as prior_as_of_date from {{ ref('int_report_dates') }}
)

select r.*, coalesce(now.cash, 0) as trial_balance_cash, coalesce(before.cash, 0) as trial_balance_opening_cash
from rows_by_date as r
inner join dates as d using (as_of_date)
left join tb as now on now.as_of_date = r.as_of_date and now.currency = r.currency
left join tb as before on before.as_of_date = d.prior_as_of_date and before.currency = r.currency
where opening + net_change <> closing
    or prior_opening + prior_net_change <> prior_closing
    or year_opening + year_net_change <> year_closing
    or net_change <> subtotals
    or subtotals <> lines
    or closing <> coalesce(now.cash, 0)
    or opening <> coalesce(before.cash, 0)
