{{ config(meta={'dagster': {'ref': {'name': 'balance_sheet'}}}) }}
-- Each top-level balance-sheet category (from the category snapshots) equals the sum of its
-- accounts in the trial balance (from the account snapshots), and current_earnings equals the
-- trial balance's revenue + income - expenses, per date and currency.
with tb as (
    select
        as_of_date,
        currency,
        case when top_segment in {{ income_segments() }} then 'current_earnings' else top_segment end as category,
        sum(case when top_segment in {{ income_segments() }} then credits - debits else balance end) as balance
    from {{ ref('trial_balance') }}
    group by all
),

bs as (
    select as_of_date, currency, category, balance
    from {{ ref('balance_sheet') }}
    where depth = 1
)

select as_of_date, currency, category, tb.balance as trial_balance, bs.balance as balance_sheet
from tb
full outer join bs using (as_of_date, currency, category)
where coalesce(tb.balance, 0) <> coalesce(bs.balance, 0)
