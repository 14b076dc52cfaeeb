{{ config(meta={'dagster': {'ref': {'name': 'balance_sheet_statement'}}}) }}
-- Total assets = total liabilities and equity, per report date and currency, in each of the three
-- columns (the report date, the previous report date, the start of the year).
with sides as (
    select
        as_of_date,
        currency,
        sum(balance) filter (where label = 'Total assets') as assets,
        sum(balance) filter (where label = 'Total liabilities and equity') as liabilities_and_equity,
        sum(prior_period_balance) filter (where label = 'Total assets') as prior_assets,
        sum(prior_period_balance) filter (where label = 'Total liabilities and equity') as prior_liabilities_and_equity,
        sum(start_of_year_balance) filter (where label = 'Total assets') as opening_assets,
        sum(start_of_year_balance) filter (where label = 'Total liabilities and equity') as opening_liabilities_and_equity,
        count(*) filter (where line_type = 'total') as totals
    from {{ ref('balance_sheet_statement') }}
    group by all
)

select *
from sides
where totals <> 2
    or assets <> liabilities_and_equity
    or prior_assets <> prior_liabilities_and_equity
    or opening_assets <> opening_liabilities_and_equity
