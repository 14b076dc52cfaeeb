-- Balance sheet by month: posted balances at each month end (and the latest day) of the
-- balance-sheet categories (assets, liabilities, equity and any other top segment that is not an
-- income-statement one) down to var('statement_depth') levels. Revenue and expenses are not
-- closed into equity in the ledger, so the computed line `current_earnings` (section equity)
-- carries their cumulative net: assets = liabilities + equity + current_earnings holds per
-- currency and date (tested: debits = credits over the depth-1 lines).
with categories as (
    select b.*, c.parent_category, c.depth, c.top_segment
    from {{ ref('int_category_balances') }} as b
    inner join {{ ref('stg_categories') }} as c using (category)
),

lines as (
    select
        period, as_of_date, is_month_end,
        top_segment as section,
        category,
        parent_category,
        depth,
        'category' as line_type,
        normal_balance,
        currency,
        posted_debits as debits,
        posted_credits as credits,
        posted as balance
    from categories
    where top_segment not in {{ income_segments() }}
),

current_earnings as (
    select
        period, as_of_date, is_month_end,
        'equity' as section,
        'current_earnings' as category,
        cast(null as varchar) as parent_category,
        1 as depth,
        'computed' as line_type,
        'credit' as normal_balance,
        currency,
        cast(sum(posted_debits) as bigint) as debits,
        cast(sum(posted_credits) as bigint) as credits,
        cast(sum(posted_credits) - sum(posted_debits) as bigint) as balance
    from categories
    where top_segment in {{ income_segments() }} and depth = 1
    group by all
)

select * from lines
union all by name
select * from current_earnings
