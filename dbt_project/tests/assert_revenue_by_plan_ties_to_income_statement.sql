{{ config(meta={'dagster': {'ref': {'name': 'revenue_by_plan'}}}) }}
-- The plans' revenue adds up to the income statement's subscription revenue line (when the
-- statement shows categories that deep), per month and currency.
{% set prefix = var('subscription_revenue_prefix') %}
{% if (prefix.split(':') | length) <= var('statement_depth') %}
with plans as (
    select period, currency, sum(revenue) as revenue
    from {{ ref('revenue_by_plan') }}
    group by all
),

statement as (
    select period, currency, amount as revenue
    from {{ ref('income_statement') }}
    where category = '{{ prefix }}'
)

select period, currency, plans.revenue as plans_revenue, statement.revenue as statement_revenue
from plans
full outer join statement using (period, currency)
where coalesce(plans.revenue, 0) <> coalesce(statement.revenue, 0)
{% else %}
select 1 as nothing_to_compare where false
{% endif %}
