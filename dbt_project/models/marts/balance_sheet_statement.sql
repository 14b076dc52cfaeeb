-- The balance sheet as a statement, per report date and currency, in statement order
-- (docs/reports.md, "balance_sheet_statement"): each section (assets, then liabilities and
-- equity; any other configured top segment on the side of its normal balance) opens with a
-- header, lists its categories from depth 2 down to var('statement_depth') and closes with its
-- total; equity carries the computed line current earnings (revenue + income - expenses to date,
-- which the ledger does not close into equity); the sides close with "Total assets" and "Total
-- liabilities and equity" (line_type 'total'), which are equal (tested). Three columns: the balance at the report
-- date, at the previous report date and at the start of the fiscal year. Lines that are zero in
-- all three are left out; headers and totals always show.
with categories as (
    select * from {{ ref('int_category_comparatives') }}
    where top_segment not in {{ income_segments() }}
),

dates as (
    select * from {{ ref('int_statement_dates') }}
),

-- the standard sections always show, others when they exist; side 1 = debit-normal (assets)
sections as (
    select distinct top_segment as section, normal_balance from categories where depth = 1
    union
    select * from (values ('assets', 'debit'), ('liabilities', 'credit'), ('equity', 'credit')) as s(section, normal_balance)
),

ordered_sections as (
    select
        section,
        normal_balance,
        case when normal_balance = 'debit' then 1 else 2 end as side,
        case section when 'assets' then 10 when 'liabilities' then 30 when 'equity' then 40
            else case when normal_balance = 'debit' then 20 else 35 end end as section_order
    from sections
),

section_totals as (
    select
        d.period, d.as_of_date, d.currency, s.section, s.side, s.section_order,
        coalesce(c.posted, 0) as balance,
        coalesce(c.opening_posted, 0) as prior_period_balance,
        coalesce(c.year_opening_posted, 0) as start_of_year_balance
    from dates as d
    cross join ordered_sections as s
    left join categories as c
        on c.as_of_date = d.as_of_date and c.currency = d.currency and c.category = s.section
),

-- revenue + income - expenses to date, at each of the three dates
current_earnings as (
    select
        as_of_date,
        currency,
        sum(case when normal_balance = 'credit' then posted else -posted end) as balance,
        sum(case when normal_balance = 'credit' then opening_posted else -opening_posted end) as prior_period_balance,
        sum(case when normal_balance = 'credit' then year_opening_posted else -year_opening_posted end)
            as start_of_year_balance
    from {{ ref('int_category_comparatives') }}
    where top_segment in {{ income_segments() }} and depth = 1
    group by all
),

detail as (
    select
        c.as_of_date, c.currency, s.section, s.section_order, c.category, c.depth,
        c.posted as balance,
        c.opening_posted as prior_period_balance,
        c.year_opening_posted as start_of_year_balance
    from categories as c
    inner join ordered_sections as s on s.section = c.top_segment
    where c.depth between 2 and {{ var('statement_depth') }}
),

-- what a section holds outside its depth-2 categories (accounts named by the top segment alone)
unassigned as (
    select
        t.as_of_date, t.currency, t.section, t.section_order,
        t.balance - coalesce(sum(d.balance), 0) as balance,
        t.prior_period_balance - coalesce(sum(d.prior_period_balance), 0) as prior_period_balance,
        t.start_of_year_balance - coalesce(sum(d.start_of_year_balance), 0) as start_of_year_balance
    from section_totals as t
    left join detail as d
        on d.as_of_date = t.as_of_date and d.currency = t.currency and d.section = t.section and d.depth = 2
    where {{ var('statement_depth') }} >= 2
    group by t.as_of_date, t.currency, t.section, t.section_order, t.balance, t.prior_period_balance, t.start_of_year_balance
),

lines as (
    -- section headers
    select as_of_date, currency, section, section_order, 0 as part, [] as sort_path,
        'header' as line_type, cast(null as varchar) as category, 0 as indent,
        {{ category_caption('section') }} as label,
        null::bigint as balance, null::bigint as prior_period_balance, null::bigint as start_of_year_balance
    from section_totals

    union all by name
    select as_of_date, currency, section, section_order, 1 as part, string_split(category, ':') as sort_path,
        'line' as line_type, category, depth - 1 as indent, {{ category_caption('category') }} as label,
        balance, prior_period_balance, start_of_year_balance
    from detail
    where balance <> 0 or prior_period_balance <> 0 or start_of_year_balance <> 0

    union all by name
    select as_of_date, currency, section, section_order, 2 as part, [] as sort_path,
        'line' as line_type, section as category, 1 as indent, 'Other' as label,
        balance, prior_period_balance, start_of_year_balance
    from unassigned
    where balance <> 0 or prior_period_balance <> 0 or start_of_year_balance <> 0

    union all by name
    select e.as_of_date, e.currency, 'equity' as section, 40 as section_order, 3 as part, [] as sort_path,
        'line' as line_type, 'current_earnings' as category, 1 as indent, 'Current earnings' as label,
        e.balance, e.prior_period_balance, e.start_of_year_balance
    from current_earnings as e

    union all by name
    select t.as_of_date, t.currency, t.section, t.section_order, 4 as part, [] as sort_path,
        -- a side of one section (assets alone) closes with that section's total
        case when (select count(*) from ordered_sections as o where o.side = t.side) = 1 then 'total' else 'subtotal' end
            as line_type,
        t.section as category, 0 as indent, 'Total ' || lower({{ category_caption('t.section') }}) as label,
        t.balance + coalesce(e.balance, 0) as balance,
        t.prior_period_balance + coalesce(e.prior_period_balance, 0) as prior_period_balance,
        t.start_of_year_balance + coalesce(e.start_of_year_balance, 0) as start_of_year_balance
    from section_totals as t
    left join current_earnings as e on e.as_of_date = t.as_of_date and e.currency = t.currency and t.section = 'equity'

    union all by name
    -- the two sides of the balance sheet
    select t.as_of_date, t.currency, null as section,
        case when t.side = 1 then 29 else 99 end as section_order, 0 as part, [] as sort_path,
        'total' as line_type, null as category, 0 as indent,
        case when t.side = 1 then 'Total assets' else 'Total liabilities and equity' end as label,
        sum(t.balance + coalesce(e.balance, 0)) as balance,
        sum(t.prior_period_balance + coalesce(e.prior_period_balance, 0)) as prior_period_balance,
        sum(t.start_of_year_balance + coalesce(e.start_of_year_balance, 0)) as start_of_year_balance
    from section_totals as t
    left join current_earnings as e on e.as_of_date = t.as_of_date and e.currency = t.currency and t.section = 'equity'
    group by t.as_of_date, t.currency, t.side
    having count(*) > 1
)

select
    d.period,
    d.as_of_date,
    d.is_month_end,
    d.prior_as_of_date,
    d.year_opening_date,
    l.currency,
    cast(row_number() over (
        partition by l.as_of_date, l.currency order by l.section_order, l.part, l.sort_path
    ) as integer) as line_no,
    l.section,
    l.line_type,
    l.category,
    l.indent,
    l.label,
    cast(l.balance as bigint) as balance,
    cast(l.prior_period_balance as bigint) as prior_period_balance,
    cast(l.start_of_year_balance as bigint) as start_of_year_balance
from lines as l
inner join dates as d using (as_of_date, currency)
