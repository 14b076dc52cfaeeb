-- The statement categories (int_category_balances: path categories down to var statement_depth)
-- at every report date with what the statements compare: the posted balance at the report date,
-- at the previous report date (`opening_posted`) and at the start of the fiscal year
-- (`year_opening_posted`: the balance at the last report date before the year starts, 0 when the
-- ledger starts later), and from them the activity of the period, of the previous period and of
-- the year to date. All signed by the category's normal balance.
with balances as (
    select
        b.*,
        c.parent_category,
        c.depth,
        c.top_segment,
        {{ fiscal_year_start('b.period_start') }} as year_start
    from {{ ref('int_category_balances') }} as b
    inner join {{ ref('stg_categories') }} as c using (category)
),

with_year_opening as (
    select b.*, coalesce(y.posted, 0) as year_opening_posted
    from balances as b
    asof left join (select category, currency, as_of_date, posted from balances) as y
        on y.category = b.category
        and y.currency = b.currency
        and b.year_start > y.as_of_date
)

select
    *,
    posted - opening_posted as period_amount,
    coalesce(lag(posted - opening_posted) over (partition by category, currency order by as_of_date), 0)
        as prior_period_amount,
    posted - year_opening_posted as year_to_date_amount,
    coalesce(lag(opening_posted) over (partition by category, currency order by as_of_date), 0)
        as prior_opening_posted
from with_year_opening
