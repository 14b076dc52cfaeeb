{{ config(meta={'dagster': {'ref': {'name': 'income_statement'}}}) }}
-- The income statement's net income, summed over the months up to a date, equals the balance
-- sheet's current earnings at that date (per currency).
with cumulative as (
    select
        as_of_date,
        currency,
        sum(amount) over (partition by currency order by period_start rows between unbounded preceding and current row) as net_income_to_date
    from {{ ref('income_statement') }}
    where category = 'net_income'
),

current_earnings as (
    select as_of_date, currency, balance
    from {{ ref('balance_sheet') }}
    where category = 'current_earnings'
)

select *
from cumulative
full outer join current_earnings using (as_of_date, currency)
where coalesce(net_income_to_date, 0) <> coalesce(balance, 0)
