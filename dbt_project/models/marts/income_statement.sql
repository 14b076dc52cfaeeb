-- Income statement by month: the posted activity of the month (change of the posted balance
-- between the previous report date and this one) of the revenue, income and expense categories
-- down to var('statement_depth') levels, signed by each category's normal balance, and the
-- computed line `net_income` = revenue + income - expenses of the month.
with categories as (
    select b.*, c.parent_category, c.depth, c.top_segment
    from {{ ref('int_category_balances') }} as b
    inner join {{ ref('stg_categories') }} as c using (category)
    where c.top_segment in {{ income_segments() }}
),

lines as (
    select
        period, period_start, as_of_date, is_month_end,
        top_segment as section,
        category,
        parent_category,
        depth,
        'category' as line_type,
        normal_balance,
        currency,
        period_posted_debits as debits,
        period_posted_credits as credits,
        posted - opening_posted as amount
    from categories
),

net_income as (
    select
        period, period_start, as_of_date, is_month_end,
        'net_income' as section,
        'net_income' as category,
        cast(null as varchar) as parent_category,
        0 as depth,
        'computed' as line_type,
        'credit' as normal_balance,
        currency,
        cast(sum(period_posted_debits) as bigint) as debits,
        cast(sum(period_posted_credits) as bigint) as credits,
        cast(sum(period_posted_credits) - sum(period_posted_debits) as bigint) as amount
    from categories
    where depth = 1
    group by all
)

select * from lines
union all by name
select * from net_income
