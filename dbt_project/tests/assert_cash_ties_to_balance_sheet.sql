{{ config(meta={'dagster': {'ref': {'name': 'cash_position'}}}) }}
-- Settled cash plus cash in transit equals the balance sheet's cash category (when the
-- statement shows categories that deep), per date and currency.
{% set cash = var('cash_account') %}
{% if (cash.split(':') | length) <= var('statement_depth') %}
with cash as (
    select as_of_date, currency, total_cash
    from {{ ref('cash_position') }}
),

bs as (
    select as_of_date, currency, balance
    from {{ ref('balance_sheet') }}
    where category = '{{ cash }}'
)

select *
from cash
full outer join bs using (as_of_date, currency)
where coalesce(total_cash, 0) <> coalesce(balance, 0)
{% else %}
select 1 as nothing_to_compare where false
{% endif %}
