-- The income statement as a statement, per report date and currency, in statement order
-- (docs/reports.md, "profit_and_loss_statement"): Revenue, Other income (when there is any),
-- Expenses -- each a header, its categories from depth 2 down to var('statement_depth') and its
-- total -- then Net income = revenue + other income - expenses. Three columns: the period's
-- activity, the previous period's and the fiscal year's to date, each signed by the category's
-- normal balance (revenue and expenses positive; refunds, a reduction of revenue, negative). Lines
-- that are zero in all three are left out; headers and totals always show.
with categories as (
    select * from {{ ref('int_category_comparatives') }}
    where top_segment in {{ income_segments() }}
),

dates as (
    select * from {{ ref('int_statement_dates') }}
),

sections as (
    select distinct top_segment as section from categories where depth = 1
    union
    select * from (values ('revenue'), ('expenses')) as s(section)
),

ordered_sections as (
    select
        section,
        case section when 'revenue' then 10 when 'income' then 20 else 30 end as section_order,
        case section when 'revenue' then 'Revenue' when 'income' then 'Other income' else 'Expenses' end as caption,
        case when section = 'expenses' then -1 else 1 end as sign
    from sections
),

section_totals as (
    select
        d.as_of_date, d.currency, s.section, s.section_order, s.caption, s.sign,
        coalesce(c.period_amount, 0) as current_period,
        coalesce(c.prior_period_amount, 0) as prior_period,
        coalesce(c.year_to_date_amount, 0) as year_to_date
    from dates as d
    cross join ordered_sections as s
    left join categories as c
        on c.as_of_date = d.as_of_date and c.currency = d.currency and c.category = s.section
),

detail as (
    select
        c.as_of_date, c.currency, s.section, s.section_order, c.category, c.depth,
        c.period_amount as current_period,
        c.prior_period_amount as prior_period,
        c.year_to_date_amount as year_to_date
    from categories as c
    inner join ordered_sections as s on s.section = c.top_segment
    where c.depth between 2 and {{ var('statement_depth') }}
),

-- what a section holds outside its depth-2 categories (accounts named by the top segment alone)
unassigned as (
    select
        t.as_of_date, t.currency, t.section, t.section_order,
        t.current_period - coalesce(sum(d.current_period), 0) as current_period,
        t.prior_period - coalesce(sum(d.prior_period), 0) as prior_period,
        t.year_to_date - coalesce(sum(d.year_to_date), 0) as year_to_date
    from section_totals as t
    left join detail as d
        on d.as_of_date = t.as_of_date and d.currency = t.currency and d.section = t.section and d.depth = 2
    where {{ var('statement_depth') }} >= 2
    group by t.as_of_date, t.currency, t.section, t.section_order, t.current_period, t.prior_period, t.year_to_date
),

lines as (
    select as_of_date, currency, section, section_order, 0 as part, [] as sort_path,
        'header' as line_type, cast(null as varchar) as category, 0 as indent, caption as label,
        null::bigint as current_period, null::bigint as prior_period, null::bigint as year_to_date
    from section_totals

    union all by name
    select as_of_date, currency, section, section_order, 1 as part, string_split(category, ':') as sort_path,
        'line' as line_type, category, depth - 1 as indent, {{ category_caption('category') }} as label,
        current_period, prior_period, year_to_date
    from detail
    where current_period <> 0 or prior_period <> 0 or year_to_date <> 0

    union all by name
    select as_of_date, currency, section, section_order, 2 as part, [] as sort_path,
        'line' as line_type, section as category, 1 as indent, 'Other' as label,
        current_period, prior_period, year_to_date
    from unassigned
    where current_period <> 0 or prior_period <> 0 or year_to_date <> 0

    union all by name
    select as_of_date, currency, section, section_order, 3 as part, [] as sort_path,
        'subtotal' as line_type, section as category, 0 as indent, 'Total ' || lower(caption) as label,
        current_period, prior_period, year_to_date
    from section_totals

    union all by name
    select as_of_date, currency, null as section, 99 as section_order, 0 as part, [] as sort_path,
        'total' as line_type, 'net_income' as category, 0 as indent, 'Net income' as label,
        sum(sign * current_period) as current_period, sum(sign * prior_period) as prior_period,
        sum(sign * year_to_date) as year_to_date
    from section_totals
    group by all
)

select
    d.period,
    d.period_start,
    d.as_of_date,
    d.is_month_end,
    d.year_start,
    l.currency,
    cast(row_number() over (
        partition by l.as_of_date, l.currency order by l.section_order, l.part, l.sort_path
    ) as integer) as line_no,
    l.section,
    l.line_type,
    l.category,
    l.indent,
    l.label,
    cast(l.current_period as bigint) as current_period,
    cast(l.prior_period as bigint) as prior_period,
    cast(l.year_to_date as bigint) as year_to_date
from lines as l
inner join dates as d using (as_of_date, currency)
