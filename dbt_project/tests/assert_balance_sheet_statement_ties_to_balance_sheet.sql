{{ config(meta={'dagster': {'ref': {'name': 'balance_sheet_statement'}}}) }}
-- Every category line and section total of the statement equals the balance sheet's line of
-- that category at the report date, at the previous report date and at the start of the year
-- (equity's subtotal with current earnings); and no non-zero balance-sheet line is missing.
with bs as (
    select as_of_date, currency, category, balance
    from {{ ref('balance_sheet') }}
),

equity_with_earnings as (
    select as_of_date, currency, 'equity' as category, sum(balance) as balance
    from bs
    where category in ('equity', 'current_earnings')
    group by all
),

expected as (
    select * from bs where category <> 'equity'
    union all
    select * from equity_with_earnings
),

statement as (
    select *
    from {{ ref('balance_sheet_statement') }}
    where category is not null and not (line_type = 'line' and label = 'Other')
),

compared as (
    select
        s.as_of_date, s.currency, s.category, s.line_type,
        s.balance, coalesce(now.balance, 0) as expected_balance,
        s.prior_period_balance, coalesce(prior.balance, 0) as expected_prior,
        s.start_of_year_balance, coalesce(opening.balance, 0) as expected_opening
    from statement as s
    left join expected as now
        on now.as_of_date = s.as_of_date and now.currency = s.currency and now.category = s.category
    left join expected as prior
        on prior.as_of_date = s.prior_as_of_date and prior.currency = s.currency and prior.category = s.category
    left join expected as opening
        on opening.as_of_date = s.year_opening_date and opening.currency = s.currency and opening.category = s.category
),

missing as (
    select e.as_of_date, e.currency, e.category, 'missing' as line_type, null, e.balance, null, null, null, null
    from expected as e
    anti join statement as s using (as_of_date, currency, category)
    where e.balance <> 0 and (e.category = 'current_earnings' or len(string_split(e.category, ':')) <= {{ var('statement_depth') }})
)

select * from compared
where balance <> expected_balance or prior_period_balance <> expected_prior or start_of_year_balance <> expected_opening
union all
select * from missing
